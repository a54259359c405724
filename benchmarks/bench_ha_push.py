"""Benchmark mode of the test harness (run by ``benchmarks/ha_push.py``, not by CI).

A real Home Assistant (the test harness's ``hass``, no recorder) with our entry; the
batteries are ``bin/alphaess-cloud simulate`` processes, so their work is not counted.
Measured over a window while they push realtime records: the event-loop time spent per
realtime frame in decoding, the coordinator and the entity writes it causes (timed
around those calls), this process's CPU per frame (including the harness's own idle
work, so an upper bound), state writes per frame
(``state_changed`` plus ``state_reported``), and from the server's receipt of a frame
to the state write it causes, p50 and p99.

With ``BENCH_QUICK=1`` (``benchmarks.ha_push --quick``) it is a smoke run: two
batteries, measured from when both have pushed until two more realtime frames per
battery have arrived, every wait bounded. Either way it fails if a timed hook was
never called: a figure of 0 µs for a part would mean the code it wraps has moved, not
that it became free.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import os
from pathlib import Path
import socket
import statistics
import sys
import time
from typing import Any

from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.entity import Entity
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.alphaess_local  # noqa: F401 - our package before the plugin's
from custom_components.alphaess_local.const import CONF_ALLOWLIST, DOMAIN
from custom_components.alphaess_local.protocol import (
    RealtimeRecord,
)
from custom_components.alphaess_local.protocol.server import pacing as pacing_module
from custom_components.alphaess_local.protocol.server.events import Received

LAUNCHER = Path(__file__).parent.parent / "bin" / "alphaess-cloud"
WINDOW = 10.0
QUICK = os.environ.get("BENCH_QUICK") == "1"
# The smoke run's bounds: every wait ends, and fails, past these.
QUICK_TIMEOUT = 30.0
QUICK_FRAMES = 2  # realtime frames per battery in the smoke run's window


async def until(progress: asyncio.Event, condition: Any, what: str) -> None:
    """Wait until ``condition()`` holds, checked at each ``progress``; bounded."""
    try:
        async with asyncio.timeout(QUICK_TIMEOUT):
            while not condition():
                progress.clear()
                await progress.wait()
    except TimeoutError:
        pytest.fail(f"no {what} within {QUICK_TIMEOUT:g} s")


@callback
def _every(_data: Any) -> bool:
    return True


@pytest.mark.parametrize("batteries", [2] if QUICK else [1, 20])
async def test_push_cost(  # noqa: PLR0915 - one measurement, read top to bottom
    hass: HomeAssistant,
    enable_custom_integrations: None,
    socket_enabled: None,
    batteries: int,
) -> None:
    # The harness runs the loop in debug mode (slow callbacks are timed and traced);
    # a user's Home Assistant does not.
    hass.loop.set_debug(False)
    assert not hass.loop.get_debug()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    serials = [f"AL90020210300{n:02d}" for n in range(batteries)]
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(port),
        data={CONF_HOST: "127.0.0.1", CONF_PORT: port},
        options={CONF_ALLOWLIST: serials},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    received: dict[str, float] = {}
    latencies: list[float] = []
    pushed: set[str] = set()  # batteries whose realtime record arrived
    progress = asyncio.Event()  # set on every event and state write
    frames = 0
    writes = 0
    unchanged = 0
    measuring = False
    # Event-loop time by where it went, and the longest single call of each.
    spent = {"decode": 0.0, "coordinator": 0.0, "entities": 0.0, "state writes": 0.0}
    longest = dict.fromkeys(spent, 0.0)

    # Garbage collections during the window: a full one in a process this size is the
    # one thing here that can stall a single update for long.
    collections: list[tuple[int, float]] = []
    collecting: dict[str, float] = {}

    def gc_timer(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting["at"] = time.perf_counter()
        elif measuring and "at" in collecting:
            collections.append(
                (info["generation"], time.perf_counter() - collecting["at"])
            )

    gc.callbacks.append(gc_timer)

    calls = dict.fromkeys(spent, 0)

    def account(part: str, seconds: float) -> None:
        spent[part] += seconds
        calls[part] += 1
        longest[part] = max(longest[part], seconds)

    original = coordinator.handle_event

    def handle(event: Any) -> None:
        nonlocal frames
        began = time.perf_counter()
        if isinstance(event, Received) and isinstance(event.message, RealtimeRecord):
            pushed.add(event.serial)
        if measuring and isinstance(event, Received):
            received[event.serial] = began
            frames += isinstance(event.message, RealtimeRecord)
        original(event)
        progress.set()
        if measuring:
            account("coordinator", time.perf_counter() - began)

    push = coordinator.fan_out.push
    write_time = 0.0

    def timed_push() -> None:
        nonlocal write_time
        write_time = 0.0
        began = time.perf_counter()
        push()
        if measuring:
            account("entities", time.perf_counter() - began - write_time)
            account("state writes", write_time)

    coordinator.fan_out.push = timed_push  # type: ignore[method-assign]
    # Sessions type every frame but a history upload (parsed in steps) through
    # pacing.py's ``decode_message``.
    decode = pacing_module.decode_message

    def timed_decode(frame: Any) -> Any:
        began = time.perf_counter()
        message = decode(frame)
        if measuring:
            account("decode", time.perf_counter() - began)
        return message

    pacing_module.decode_message = timed_decode
    write = Entity.async_write_ha_state
    entity_writes = 0

    def timed_write(entity: Entity) -> None:
        nonlocal write_time, entity_writes
        began = time.perf_counter()
        write(entity)
        write_time += time.perf_counter() - began
        entity_writes += measuring

    Entity.async_write_ha_state = timed_write  # type: ignore[method-assign]
    entry.runtime_data.source._on_event = (
        handle  # what the source hands the coordinator
    )

    @callback
    def written(event: Event[Any]) -> None:
        nonlocal writes, unchanged
        progress.set()
        if not measuring:
            return
        writes += 1
        unchanged += event.event_type == EVENT_STATE_REPORTED
        entity_id = event.data["entity_id"]
        for serial, at in received.items():
            if serial[-4:] in entity_id:
                latencies.append(time.perf_counter() - at)
                break

    hass.bus.async_listen(EVENT_STATE_CHANGED, written)
    hass.bus.async_listen(EVENT_STATE_REPORTED, written, event_filter=_every)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            "simulate",
            "--port",
            str(port),
            "--serial",
            serial,
            "--speed",
            "20",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for serial in serials
    ]
    try:
        if QUICK:  # every battery pushed: connected, its entities created
            await until(
                progress, lambda: len(pushed) == batteries, "push from every battery"
            )
        else:
            await asyncio.sleep(8)  # connected, entities created
        # BENCH_PROFILE=file: a cProfile of the window as well (figures then inflate).
        profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
        measuring = True
        began = time.perf_counter()
        cpu = time.process_time()
        if profile is not None:
            profile.enable()
        if QUICK:
            await until(
                progress,
                lambda: frames >= QUICK_FRAMES * batteries and latencies,
                f"{QUICK_FRAMES} realtime frames from each battery, written",
            )
        else:
            await asyncio.sleep(WINDOW)
        window = time.perf_counter() - began
        if profile is not None:
            profile.disable()
            profile.dump_stats(f"{os.environ['BENCH_PROFILE']}.{batteries}")
        cpu = time.process_time() - cpu
        measuring = False
    finally:
        gc.callbacks.remove(gc_timer)
        pacing_module.decode_message = decode
        Entity.async_write_ha_state = write  # type: ignore[method-assign]
        for process in processes:
            process.terminate()
        await asyncio.gather(*(p.wait() for p in processes))
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Each hook timed something, or the figures would silently leave a part out.
    assert frames, "no realtime frame arrived in the window"
    assert entity_writes, "no entity wrote its state through the timed write"
    never = [part for part, count in calls.items() if not count]
    assert not never, f"timed hooks never called (the code moved?): {never}"
    ordered = sorted(latencies)
    per_frame = {part: t / max(frames, 1) * 1e6 for part, t in spent.items()}
    loop = sum(per_frame.values())
    ours = loop - per_frame["state writes"]
    print(
        f"\nBENCH {batteries:2d} batteries: {frames} realtime frames in {window:.1f} s; "
        f"loop time per frame {loop:.0f} µs = "
        + ", ".join(f"{part} {us:.0f}" for part, us in per_frame.items())
        + f"; ours without Home Assistant's state writes {ours:.0f} µs"
        f" = {ours / max(per_frame['state writes'], 1e-9):.2f} of Home Assistant's"
        f" {per_frame['state writes']:.0f} µs (target at most 0.50)"
        f"; process CPU per frame {cpu / max(frames, 1) * 1e6:.0f} µs "
        f"(with the harness's idle work); state writes per frame "
        f"{writes / max(frames, 1):.2f} ({unchanged} of {writes} unchanged); "
        f"receipt to state written p50 {statistics.median(ordered) * 1e3:.2f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99)] * 1e3:.2f} ms; longest single call: "
        + ", ".join(f"{part} {t * 1e3:.2f} ms" for part, t in longest.items())
        + f"; garbage collections {len(collections)}, longest "
        + (
            f"{max(t for _, t in collections) * 1e3:.2f} ms (generation "
            f"{max(collections, key=lambda c: c[1])[0]})"
            if collections
            else "-"
        )
        if ordered
        else f"\nBENCH {batteries} batteries: no writes"
    )
