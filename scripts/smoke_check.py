"""Drive a running Home Assistant from outside as an owner would, and judge what it shows.

Used by ``scripts/smoke-newest`` against a release whose test plugin does not exist
yet: onboarding through the REST API, the integration added through the config-flow
API, a simulated battery connected over TCP, then the device, the sensors and the
Energy dashboard's validation read back over REST and WebSocket, and the log read for
anything Home Assistant says about this integration. Only aiohttp and the standard
library, so any Python that has aiohttp runs it. Exits 0 when every check holds.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import itertools
from pathlib import Path
import re
import subprocess
import sys
import time
from typing import Any

import aiohttp

DOMAIN = "alphaess_local"
SERIAL = "AL9002021030042"
PREFIX = "sensor.alphaess_0042_"
CLIENT_ID = "http://smoke.invalid/"
# Plausible ranges of what a simulated battery shows (units as the entities have them).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "state_of_charge": (0, 100),
    "battery_power": (-20_000, 20_000),
    "pv_power": (0, 20_000),
    "grid_power": (-30_000, 30_000),
    "grid_voltage": (180, 260),
    "grid_frequency": (45, 65),
    "pv_energy": (0, 1e7),
    "grid_import_energy": (0, 1e7),
    "grid_export_energy": (0, 1e7),
    "battery_charge_energy": (0, 1e7),
    "battery_discharge_energy": (0, 1e7),
}
# The one warning Home Assistant logs for every custom integration, ours or not.
NOT_TESTED_BY_HA = re.compile(
    r"We found a custom integration alphaess_local which has not been tested"
)
LOG_LINE = re.compile(
    r"^\S+ \S+ (?P<level>[A-Z]+) \((?P<thread>[^)]*)\) \[(?P<logger>[^\]]+)\] (?P<msg>.*)"
)


def log(message: str) -> None:
    print(f"smoke: {message}", flush=True)


class Smoke:
    """One Home Assistant at ``base``, one listener port for the battery."""

    def __init__(
        self, session: aiohttp.ClientSession, base: str, pid: int | None
    ) -> None:
        self.session = session
        self.base = base
        self.pid = pid
        self.token = ""
        self._ids = itertools.count(1)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def wait_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                async with self.session.get(f"{self.base}/api/onboarding") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if self.pid and not Path(f"/proc/{self.pid}").exists():
                raise SystemExit("Home Assistant exited before it answered")
            await asyncio.sleep(1)
        raise SystemExit(f"Home Assistant did not answer within {timeout:.0f} s")

    async def onboard(self) -> None:
        """Create the owner and take a token, as the first browser visit does."""
        async with self.session.post(
            f"{self.base}/api/onboarding/users",
            json={
                "client_id": CLIENT_ID,
                "name": "Smoke",
                "username": "smoke",
                "password": "smoke-test-password",
                "language": "en",
            },
        ) as r:
            r.raise_for_status()
            code = (await r.json())["auth_code"]
        async with self.session.post(
            f"{self.base}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": CLIENT_ID,
            },
        ) as r:
            r.raise_for_status()
            self.token = (await r.json())["access_token"]

    async def add_integration(self, port: int) -> dict[str, Any]:
        """Settings → Devices & services → Add integration, through the same API."""
        async with self.session.post(
            f"{self.base}/api/config/config_entries/flow",
            json={"handler": DOMAIN, "show_advanced_options": False},
            headers=self.auth,
        ) as r:
            r.raise_for_status()
            form = await r.json()
        check(form.get("step_id") == "user", "the flow opens on its form", form)
        async with self.session.post(
            f"{self.base}/api/config/config_entries/flow/{form['flow_id']}",
            json={"host": "127.0.0.1", "port": port},
            headers=self.auth,
        ) as r:
            r.raise_for_status()
            result: dict[str, Any] = await r.json()
        check(result.get("type") == "create_entry", "the entry is created", result)
        return result

    async def states(self) -> dict[str, dict[str, Any]]:
        async with self.session.get(f"{self.base}/api/states", headers=self.auth) as r:
            r.raise_for_status()
            return {s["entity_id"]: s for s in await r.json()}

    async def ws(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each call's answer, over one authenticated WebSocket."""
        answers = []
        async with self.session.ws_connect(f"{self.base}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (ok := await ws.receive_json())["type"] != "auth_ok":
                raise SystemExit(f"WebSocket auth refused: {ok}")
            for call in calls:
                ident = next(self._ids)
                await ws.send_json({"id": ident, **call})
                while (answer := await ws.receive_json()).get("id") != ident:
                    pass
                answers.append(answer)
        return answers


failures: list[str] = []


def check(ok: bool, what: str, seen: object = None) -> None:  # noqa: FBT001
    """Print one verdict; what was seen is shown only when it fails."""
    log(
        ("ok    " if ok else "FAIL  ")
        + what
        + ("" if ok or seen is None else f": {seen}")
    )
    if not ok:
        failures.append(what)


async def wait_for(
    what: str, probe: Callable[[], Any], timeout: float, every: float = 2
) -> Any:
    """``probe()``'s first truthy answer, or the last one once ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await probe()
        if answer or time.monotonic() > deadline:
            return answer
        log(f"waiting for {what}")
        await asyncio.sleep(every)


def energy_sources(ids: dict[str, str], *, legacy: bool) -> list[dict[str, Any]]:
    """Grid, solar and battery, in 2026.10's form or in the older flow lists."""
    grid: dict[str, Any] = (
        {
            "type": "grid",
            "flow_from": [{"stat_energy_from": ids["grid_import_energy"]}],
            "flow_to": [{"stat_energy_to": ids["grid_export_energy"]}],
            "cost_adjustment_day": 0,
        }
        if legacy
        else {
            "type": "grid",
            "stat_energy_from": ids["grid_import_energy"],
            "stat_energy_to": ids["grid_export_energy"],
            "stat_rate": ids["grid_power"],
            "cost_adjustment_day": 0,
        }
    )
    return [
        grid,
        {"type": "solar", "stat_energy_from": ids["pv_energy"]},
        {
            "type": "battery",
            "stat_energy_from": ids["battery_discharge_energy"],
            "stat_energy_to": ids["battery_charge_energy"],
        },
    ]


async def check_energy(smoke: Smoke, states: dict[str, dict[str, Any]]) -> None:
    ids = {key: PREFIX + key for key in PLAUSIBLE}
    prefs: dict[str, Any] = {}
    for legacy in (False, True):
        (prefs,) = await smoke.ws(
            [
                {
                    "type": "energy/save_prefs",
                    "energy_sources": energy_sources(ids, legacy=legacy),
                    "device_consumption": [],
                }
            ]
        )
        if prefs.get("success"):
            break
    check(
        bool(prefs.get("success")),
        "the Energy dashboard takes our sensors"
        + ("" if prefs.get("success") else f": {prefs}"),
    )

    async def clean() -> Any:
        (answer,) = await smoke.ws([{"type": "energy/validate"}])
        issues = answer.get("result", {}).get("energy_sources", [[None]])
        # Statistics exist from the recorder's first five-minute compile on.
        waiting = any(
            issue.get("type") == "statistics_not_defined"
            for source in issues
            for issue in source
            if isinstance(issue, dict)
        )
        return None if waiting else answer

    answer = await wait_for("the recorder's first statistics", clean, 420, 15)
    if answer is None:
        (answer,) = await smoke.ws([{"type": "energy/validate"}])
    issues = answer.get("result", {}).get("energy_sources")
    check(
        issues == [[], [], []],
        f"Energy validation has no issue for grid, solar, battery: {issues}",
    )


def judge_log(path: Path) -> None:
    """No error, warning or deprecation from or about this integration."""
    lines = path.read_text(errors="replace").splitlines()
    ours = []
    others = []
    for line in lines:
        if not (m := LOG_LINE.match(line)):
            continue
        level, logger, msg = m["level"], m["logger"], m["msg"]
        about_us = DOMAIN in logger or DOMAIN in msg or "alphaess" in msg.lower()
        deprecation = "deprecat" in msg.lower() or "breaks in" in msg.lower()
        if about_us and NOT_TESTED_BY_HA.search(msg):
            continue
        if about_us and (level in ("WARNING", "ERROR", "CRITICAL") or deprecation):
            ours.append(line)
        elif level in ("ERROR", "CRITICAL"):
            others.append(line)
    for line in others:
        log(f"note (not ours): {line[:300]}")
    for line in ours:
        log(f"log: {line[:300]}")
    check(not ours, f"the log has no error, warning or deprecation of ours ({path})")


async def run(args: argparse.Namespace) -> int:
    base = f"http://127.0.0.1:{args.http_port}"
    async with aiohttp.ClientSession() as session:
        smoke = Smoke(session, base, args.pid)
        await smoke.wait_up(args.timeout)
        async with session.get(f"{base}/api/onboarding") as r:
            log(f"Home Assistant answers at {base}")
        await smoke.onboard()
        async with session.get(f"{base}/api/config", headers=smoke.auth) as r:
            version = (await r.json())["version"]
        log(f"Home Assistant {version}")
        check(
            not args.expect_version or version == args.expect_version,
            f"the running release is {args.expect_version or version}",
        )
        await smoke.add_integration(args.battery_port)
        simulator = subprocess.Popen(  # noqa: ASYNC220, S603 - our own tool, beside us to the end
            [
                args.python,
                str(args.project / "bin" / "alphaess-cloud"),
                "simulate",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.battery_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            async def sensors() -> Any:
                states = await smoke.states()
                shown = [states.get(PREFIX + key, {}).get("state") for key in PLAUSIBLE]
                known = all(s not in (None, "unknown", "unavailable") for s in shown)
                return states if known else None

            states = await wait_for("the battery's sensors", sensors, 90) or {}
            for key, (low, high) in PLAUSIBLE.items():
                state = states.get(PREFIX + key, {}).get("state")
                try:
                    ok = low <= float(state) <= high
                except (TypeError, ValueError):
                    ok = False
                check(ok, f"{PREFIX}{key} = {state} (plausible: {low}..{high})")
            (devices,) = await smoke.ws([{"type": "config/device_registry/list"}])
            ours = [
                d
                for d in devices.get("result", [])
                if [DOMAIN, SERIAL] in d.get("identifiers", [])
            ]
            check(
                len(ours) == 1 and ours[0]["name"] == "AlphaESS 0042",
                f"one device AlphaESS 0042: {[d.get('name') for d in ours]}",
            )
            if not args.skip_energy:
                await check_energy(smoke, states)
        finally:
            simulator.terminate()
            simulator.wait(10)
    log(
        f"{'PASSED' if not failures else 'FAILED'} on Home Assistant {version}"
        + (f": {len(failures)} check(s) failed" if failures else "")
    )
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--battery-port", type=int)
    parser.add_argument(
        "--judge-log",
        type=Path,
        help="only read this log (after Home Assistant stopped)",
    )
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--expect-version", default="")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--pid", type=int, help="Home Assistant's process")
    parser.add_argument("--skip-energy", action="store_true")
    args = parser.parse_args()
    if args.judge_log:
        judge_log(args.judge_log)
        return 1 if failures else 0
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
