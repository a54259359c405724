"""Server throughput, ack latency, CPU per frame, and memory under junk connections.

Run: ``.venv/bin/python -m benchmarks.server [--seconds 10] [--quick]``. The server runs in a
child process so its CPU time and RSS are read from /proc on their own; 50 simulated
batteries push realtime records as fast as the acks come back, then 200 junk
connections (each a plausible header claiming 1 MiB, 64 KiB of it sent) are opened
(they are refused or closed at once now: see benchmarks/hostile.py for that side).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
import statistics
import sys
import time

from . import smoke
from .library import load

_library = load()
Frame = _library.Frame
FrameDecoder = _library.FrameDecoder
AlphaServer = _library.AlphaServer

HOST = "127.0.0.1"
FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
BATTERIES = 50
JUNK = 200
# The short mode: a few of each, a fraction of a second.
QUICK_BATTERIES = 3
QUICK_JUNK = 3
QUICK_SECONDS = 0.3


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def child_server() -> None:
    # Sized as Home Assistant sizes it: the batteries it knows, plus headroom.
    server = AlphaServer(
        lambda event: None, host=HOST, port=0, max_connections=BATTERIES + 8
    )
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()


async def child_port(module: str, *args: str) -> tuple[asyncio.subprocess.Process, int]:
    """Start ``python -m module *args``, a server child printing its port first."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    return process, int(await process.stdout.readline())


CONNECTING = asyncio.Lock()


async def battery(
    port: int, serial: str, stop_at: float, latencies: list[float], source: str = HOST
) -> int:
    decoder = FrameDecoder()
    loop = asyncio.get_running_loop()
    # The battery's real 16-key realtime record, with this battery's serial.
    body = json.loads((FIXTURES / "1-1-16.json").read_text()) | {"SN": serial}
    wire = Frame(1, 16, json.dumps(body).encode()).encode()
    # Each from its own address, as real batteries are (the server limits how fast
    # one address may connect), and each names itself before the next connects.
    async with CONNECTING:
        reader, writer = await asyncio.open_connection(
            HOST, port, local_addr=(source, 0)
        )
        writer.write(wire)
        while not any(
            isinstance(f, Frame) for f in decoder.feed(await reader.read(4096))
        ):
            pass
    sent = 0
    while loop.time() < stop_at:
        writer.write(wire)
        await writer.drain()
        start = time.perf_counter()
        got = False
        while not got:
            data = await reader.read(4096)
            if not data:
                raise ConnectionResetError(f"{serial} was disconnected")
            got = any(isinstance(f, Frame) for f in decoder.feed(data))
        latencies.append(time.perf_counter() - start)
        sent += 1
    writer.close()
    await writer.wait_closed()
    return sent


async def main(seconds: float, *, quick: bool = False) -> None:
    batteries, junk = (QUICK_BATTERIES, QUICK_JUNK) if quick else (BATTERIES, JUNK)
    settle = 0.1 if quick else 0.5
    process, port = await child_port("benchmarks.server", "--child")
    pid = process.pid
    try:
        await asyncio.sleep(settle)
        rss_idle = proc_rss_mib(pid)
        latencies: list[float] = []
        cpu_before = proc_cpu_seconds(pid)
        begin = time.perf_counter()
        stop_at = asyncio.get_running_loop().time() + seconds
        counts = await asyncio.gather(
            *(
                battery(port, f"AL{n:013d}", stop_at, latencies, f"127.0.1.{n + 1}")
                for n in range(batteries)
            )
        )
        elapsed = time.perf_counter() - begin
        cpu = proc_cpu_seconds(pid) - cpu_before
        frames = sum(counts)
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        print(
            f"{batteries} batteries, {seconds:g} s, client and server sharing {os.cpu_count()} cores"
        )
        print(f"  frames acknowledged   {frames:,} ({frames / elapsed:,.0f} frames/s)")
        print(f"  ack latency           p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        print(f"  server CPU per frame  {cpu / frames * 1e6:.1f} µs")

        await asyncio.sleep(settle)
        rss_before = proc_rss_mib(pid)
        held = []
        claim = bytes([1, 1, 16]) + (1024 * 1024).to_bytes(4, "big")
        for n in range(junk):  # a LAN of junk devices, one connection each
            _, writer = await asyncio.open_connection(
                HOST, port, local_addr=(f"127.0.2.{n + 1}", 0)
            )
            writer.write(claim + os.urandom(64 * 1024))
            await writer.drain()
            held.append(writer)
        await asyncio.sleep(2 * settle)
        rss_after = proc_rss_mib(pid)
        print(f"{junk} junk connections held (each a 1 MiB claim, 64 KiB sent)")
        print(
            f"  server RSS            idle {rss_idle:.1f} MiB, before junk {rss_before:.1f} MiB, with junk {rss_after:.1f} MiB"
        )
        print(
            f"  growth per junk conn  {(rss_after - rss_before) * 1024 / junk:.0f} KiB"
        )
        for writer in held:
            writer.transport.abort()
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true")
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_server())
    else:
        smoke.announce(quick=args.quick)
        seconds = QUICK_SECONDS if args.quick else args.seconds
        asyncio.run(main(seconds, quick=args.quick))
