"""Reading an inverter over Modbus TCP: block reads against one request per value.

Run: ``.venv/bin/python -m benchmarks.modbus [--quick]``. pymodbus's own TCP server
(a child process, so its work is not counted) serves the simulated inverter's
registers on loopback. In the same run, two readers produce the same records
(``RegisterMap.live``) from it:

- *blocks*: the library's ``ModbusReader``, a live poll as the map's block reads;
- *per value*: the way other integrations read AlphaESS, one request per value the
  map uses (a 32-bit value is one request of two registers), over the same
  pymodbus client (``compat.ModbusLink``) and the same map.

Printed for each: requests per poll, event-loop time per poll (CPU time of the
loop's thread: the reader, pymodbus's client and the map, everything this process
does for a poll), and wall time per poll over loopback. Home Assistant's own state
writes for a poll are measured by ``benchmarks.ha_push`` (per realtime frame: the
same records, the same entities).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

from . import smoke
from .library import load

HOST = "127.0.0.1"
UNIT = 85
SERIAL = "AL2002321010043"
POLLS = 200
QUICK_POLLS = 3
# A full run takes seconds; past this, something hangs.
RUN_TIMEOUT = 300.0
# 32-bit values: one request of two registers each (as the peers read them).
WIDE = {
    "GRID_EXPORT_TOTAL",
    "GRID_IMPORT_TOTAL",
    "GRID_POWER_PHASES",
    "GRID_POWER",
    "PV_METER_TOTAL",
    "PV_METER_POWER",
    "BATTERY_WARNING",
    "BATTERY_FAULT",
    "CHARGE_TOTAL",
    "DISCHARGE_TOTAL",
    "GRID_CHARGE_TOTAL",
    "INVERTER_POWER_PHASES",
    "INVERTER_POWER",
    "INVERTER_WARNING",
    "INVERTER_FAULT",
    "PV_TOTAL",
}
# pack, cell, value: three registers, three values.
TRIPLES = {
    "CELL_VOLTAGE_LOW",
    "CELL_VOLTAGE_HIGH",
    "CELL_TEMPERATURE_LOW",
    "CELL_TEMPERATURE_HIGH",
}


def sample(model: Any) -> Any:
    """A fixed sunny moment of the simulator's own model (``simulator.model``)."""
    return model.Sample(
        time=datetime(2026, 6, 21, 12, 0),
        ppv1=1500.0,
        ppv2=1200.0,
        load=2050.0,
        pbat=-800.0,
        grid=150.0,
        soc=64.0,
        totals=model.Totals(
            pv=1234.5,
            grid_import=321.0,
            grid_export=456.0,
            charge=789.0,
            discharge=700.0,
            grid_charge=12.3,
        ),
    )


def serve() -> None:
    """The child: pymodbus's server with the simulated inverter; prints its port."""
    logging.disable(logging.CRITICAL)
    registers = load("modbus.registers")
    from pymodbus.server import ModbusTcpServer

    words = registers.encode_live(sample(load("simulator.model")))
    words.update(registers.encode_identity(SERIAL))
    words.update(registers.encode_settings({"grid_charging": True}))
    context = datastore(words)

    async def run() -> None:
        server = ModbusTcpServer(context, address=(HOST, 0))
        await server.serve_forever(background=True)
        print(server.transport.sockets[0].getsockname()[1], flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def datastore(words: dict[int, int]) -> Any:
    """``words`` as unit 85's registers, for pymodbus 3.8 to 3.13 (as the tests do)."""
    values = [words.get(a, 0) for a in range(max(words) + 1)]
    try:
        from pymodbus.simulator import DataType, SimData, SimDevice
    except ImportError:  # before 3.12: each context adds 1 to the address asked for
        from pymodbus import datastore as ds

        device = getattr(ds, "ModbusDeviceContext", None) or ds.ModbusSlaveContext
        block = ds.ModbusSequentialDataBlock(1, values)
        return ds.ModbusServerContext({UNIT: device(hr=block)}, single=False)
    signed = [v - 0x10000 if v > 0x7FFF else v for v in values]
    data = SimData(0, values=signed, datatype=DataType.REGISTERS)
    return SimDevice(UNIT, simdata=[data])


def per_value_requests(registers: Any) -> list[tuple[int, int]]:
    """(start, count) of each live value the map reads, one request each."""
    live = [range(b.start, b.start + b.count) for b in registers.LIVE_BLOCKS]
    requests: list[tuple[int, int]] = []
    for name, value in vars(registers).items():
        if not name.isupper() or name.startswith("_"):
            continue
        addresses = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(a, int) and not isinstance(a, bool) for a in addresses):
            continue
        if not all(any(a in r for r in live) for a in addresses):
            continue
        for address in addresses:
            if name == "PV_STRINGS":  # voltage, current, 32-bit power
                requests += [(address, 1), (address + 1, 1), (address + 2, 2)]
            elif name in TRIPLES:
                requests += [(address + n, 1) for n in range(3)]
            else:
                requests.append((address, 2 if name in WIDE else 1))
    return sorted(set(requests))


@dataclass
class Figures:
    polls: int
    requests: float
    loop_ms: float
    wall_ms: float


async def blocks_way(port: int, polls: int) -> Figures:
    """The library's reader: a live poll as the register map's block reads."""
    modbus = load("modbus")
    protocol = load()
    done = asyncio.Event()
    stamps: list[tuple[float, float]] = []  # thread CPU, wall

    def on_event(event: Any) -> None:
        if isinstance(getattr(event, "message", None), protocol.RealtimeRecord):
            stamps.append((time.thread_time(), time.perf_counter()))
            if len(stamps) > polls:
                done.set()

    reader = modbus.ModbusReader(
        on_event, host=HOST, port=port, unit=UNIT, interval=0.001
    )
    await reader.start()
    try:
        await done.wait()
    finally:
        await reader.close()
    # From the first record (connect and identity behind) to the last; wall time is
    # the live blocks' reads as the reader timed them (its pauses between polls out).
    (cpu0, _), (cpu1, _) = stamps[0], stamps[polls]
    blocks = reader.stats.blocks
    return Figures(
        polls,
        reader.stats.last_poll_requests,
        (cpu1 - cpu0) / polls * 1e3,
        sum(blocks[b.name].mean_ms or 0.0 for b in modbus.LIVE_BLOCKS),
    )


async def per_value_way(port: int, polls: int) -> Figures:
    """One request per value, over the same client, into the same map."""
    compat = load("modbus.compat")
    registers = load("modbus.registers")
    requests = per_value_requests(registers)
    registers_map = registers.RegisterMap()
    link = await compat.ModbusLink.open(HOST, port, UNIT, timeout=5.0)
    durations: list[tuple[float, float]] = []
    try:
        for _ in range(polls):
            cpu0, wall0 = time.thread_time(), time.perf_counter()
            words: dict[int, int] = {}
            for start, count in requests:
                values = await link.read(start, count, timeout=5.0)
                words.update(zip(range(start, start + count), values, strict=True))
            registers_map.live(words, serial=SERIAL, at=_now())
            durations.append((time.thread_time() - cpu0, time.perf_counter() - wall0))
            await asyncio.sleep(0.001)  # as the reader between its polls
    finally:
        await link.close()
    return Figures(
        polls,
        len(requests),
        statistics.fmean(d[0] for d in durations) * 1e3,
        statistics.fmean(d[1] for d in durations) * 1e3,
    )


def _now() -> Any:
    return datetime(2026, 6, 1, 12, 0, 0)


async def measure(port: int, polls: int) -> tuple[Figures, Figures]:
    async with asyncio.timeout(RUN_TIMEOUT):
        blocks = await blocks_way(port, polls)
        per_value = await per_value_way(port, polls)
    return blocks, per_value


def main(*, quick: bool) -> int:
    smoke.announce(quick=quick)
    logging.disable(logging.WARNING)  # pymodbus's own chatter
    server = subprocess.Popen(  # noqa: S603 - our interpreter, this very module
        [sys.executable, "-m", "benchmarks.modbus", "--serve"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.strip().isdigit():
            print(f"the Modbus server did not start: {line!r}", file=sys.stderr)
            return 1
        port = int(line)
        polls = QUICK_POLLS if quick else POLLS
        blocks, per_value = asyncio.run(measure(port, polls))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    print(
        f"{polls} live polls each, pymodbus {load('modbus.compat').pymodbus_version()}"
    )
    for name, figures in (("blocks", blocks), ("per value", per_value)):
        print(
            f"{name:9s}: {figures.requests:5.0f} requests/poll, "
            f"event loop {figures.loop_ms:7.3f} ms/poll, "
            f"wall {figures.wall_ms:7.3f} ms/poll"
        )
    print(
        f"per value / blocks: {per_value.requests / blocks.requests:.1f}x the requests, "
        f"{per_value.loop_ms / blocks.loop_ms:.1f}x the event-loop time, "
        f"{per_value.wall_ms / blocks.wall_ms:.1f}x the wall time"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    smoke.add_flag(parser)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        serve()
    else:
        sys.exit(main(quick=arguments.quick))
