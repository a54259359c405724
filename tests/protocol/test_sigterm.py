"""``serve`` stopped with SIGTERM (systemd, ``docker stop``, ``kill``) shuts down in order.

SIGTERM's default action ends the process at once: no session closed, the dump's
queued lines and the pin file's pending write lost, status -15. ``serve`` takes it the
way it takes Ctrl-C instead, so this runs the real process (``bin/alphaess-cloud``, as
``test_standalone.py`` does), lets a battery log in, send data and a frame to dump, and
stops it with SIGTERM straight after its last event, before anything had to land.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
import re
import signal
import sys

import pytest

from custom_components.alphaess_local.protocol import Frame
from custom_components.alphaess_local.protocol.codec.redact import mask_serial

from .conftest import HOST, RawClient
from .test_server import SERIAL, login, realtime

LAUNCHER = Path(__file__).parents[2] / "bin" / "alphaess-cloud"

# Only bounds a hang: every wait below ends as soon as what it waits for happens.
PATIENCE = 30


@pytest.mark.usefixtures("socket_enabled")
async def test_sigterm_closes_sessions_dump_and_pins_then_exits_zero(
    tmp_path: Path,
) -> None:
    pins = tmp_path / "pins.json"
    dump = tmp_path / "unknown.jsonl"
    serve = await asyncio.create_subprocess_exec(
        sys.executable,
        "-S",
        str(LAUNCHER),
        "serve",
        "--host",
        HOST,
        "--port",
        "0",
        "--pin-file",
        str(pins),
        "--dump",
        str(dump),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert serve.stdout is not None
    assert serve.stderr is not None
    battery: RawClient | None = None
    err = ""
    try:
        async with asyncio.timeout(PATIENCE):
            port = None
            while port is None:
                line = (await serve.stderr.readline()).decode()
                err += line
                assert line, f"serve exited before listening:\n{err}"
                if found := re.search(r"listening on \S+:(\d+)", line):
                    port = int(found.group(1))
            battery = await RawClient.connect(port)
            await battery.send(login(SERIAL, "first-secret"))
            await battery.send(realtime(SERIAL))  # its data earns the pin
            await battery.send(Frame(1, 99, json.dumps({"SN": SERIAL}).encode()))
            kinds: list[str] = []
            while "UnknownMessage" not in kinds:  # dumped before it is printed
                line = (await serve.stdout.readline()).decode()
                assert line, f"serve exited early:\n{err}"
                kinds.append(json.loads(line)["type"])
            serve.send_signal(signal.SIGTERM)
            _, rest = await serve.communicate()
            err += rest.decode()
    finally:
        with contextlib.suppress(ProcessLookupError):
            serve.kill()
        await serve.wait()
        if battery is not None:
            battery.writer.close()
            with contextlib.suppress(ConnectionError):
                await battery.writer.wait_closed()
    assert serve.returncode == 0, err
    assert kinds == ["Login", "RealtimeRecord", "UnknownMessage"]
    # The server closed the battery's session before the last line.
    assert re.search(rf"{re.escape(mask_serial(SERIAL))} \S+: disconnected\n", err)
    assert err.endswith("stopped\n"), err
    assert SERIAL in json.loads(pins.read_text())  # the pin, written on the way out
    dumped = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [line["reason"] for line in dumped] == ["unknown command"]
    assert "first-secret" not in pins.read_text() + dump.read_text() + err
