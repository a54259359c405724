"""What hostile input costs the server, next to what random junk costs, in one run.

Run: ``.venv/bin/python -m benchmarks.hostile [--megabytes 4] [--seconds 10] [--quick]``.

Part 1, the decoder as a session drives it: each stream is fed the way it arrives
(7-byte pieces, the attack's own rhythm, and 64 KiB reads), to decoders configured as a
session configures them (an unidentified connection's payload cap, the strike limit);
when a decoder gives up, the session closes the connection and the attacker opens a
new one, so a fresh decoder takes over. Printed: seconds per MB of attacker bytes, and
the ratio to random junk fed the same way.

Part 2, the server in a child process (its CPU and RSS read from /proc): one battery
pushes realtime records and waits for each ack, first alone (quiet), then beside 200
connections that keep sending the worst streams and reconnect when closed (storm).
Printed: ack latency p50/p99 both ways, server RSS before and after.

Part 3, one link's big uploads (issue #23): the terminal server in a child process,
its printing handler writing to /dev/null (the cost of turning every row into a JSON
line is measured, not the terminal's). Battery A pushes realtime records and waits
for each ack, first with link B silent, then while B (logged in with its own serial)
sends 64 KiB history frames (~1 400 rows each) back to back, waiting for each ack:
once with the rows-per-minute bound lifted (slicing alone) and once with it as
shipped. Printed: A's ack latency p50/p99/max each way, the ratio to B silent, and
the rows B got through per second. Target: p99 under 20 ms (printed, not asserted).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Iterator
import contextlib
from datetime import datetime, timedelta
import logging
import os
import statistics
import sys
import time

from . import smoke
from .library import load
from .server import HOST, child_port, proc_cpu_seconds, proc_rss_mib

_library = load()
Frame = _library.Frame
FrameDecoder = _library.FrameDecoder
AlphaServer = _library.AlphaServer
MAX_STRIKES = load("server.session").MAX_STRIKES
UNIDENTIFIED_MAX_PAYLOAD = load("server.session").UNIDENTIFIED_MAX_PAYLOAD

MB = 1024 * 1024
HISTORY_SERIAL = "AL9002021030099"
JUNK_CONNECTIONS = 200
# The short mode: a little of each part.
QUICK_MEGABYTES = 0.01
QUICK_SECONDS = 0.3
QUICK_JUNK_CONNECTIONS = 4
REALTIME = (
    b'{"Time":"2021/03/24 10:01:52","SN":"AL9002021030042","Ppv1":"1250",'
    b'"Ppv2":"1211","PrealL1":"1882","PrealL2":"0","PrealL3":"0","PmeterL1":"-35",'
    b'"PmeterL2":"0","PmeterL3":"0","PmeterDC":"0","Pbat":"-688.8960","Sva":"1896",'
    b'"VarAC":"-60","VarDC":"0","SOC":"33.2"}'
)


def header(command: int, length: int) -> bytes:
    return bytes([1, 1, command]) + length.to_bytes(4, "big")


def streams(size: int) -> dict[str, bytes]:
    """``size`` bytes of each kind of input."""
    damaged = bytearray(Frame(1, 16, REALTIME).encode())
    damaged[-1] ^= 0xFF
    return {
        "random junk": os.urandom(size),
        # Each 7 bytes a header claiming just under what the connection may send: the
        # old decoder re-checked ~1 MB per 7 bytes once the first claim was complete.
        "overlapping plausible headers": header(16, UNIDENTIFIED_MAX_PAYLOAD - 16)
        * (size // 7),
        "headers claiming more than the cap": header(16, 2**31) * (size // 7),
        "damaged frames back to back": bytes(damaged) * (size // len(damaged)),
    }


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def cost_per_mb(data: bytes, piece: int, best_of: int = 3) -> tuple[float, int]:
    """Seconds per MB to decode ``data`` as sessions would; connections it took."""
    chunks = list(pieces(data, piece))

    def fresh() -> FrameDecoder:
        return FrameDecoder(UNIDENTIFIED_MAX_PAYLOAD, max_failures=MAX_STRIKES)

    best = float("inf")
    connections = 0
    for _ in range(best_of):
        decoder = fresh()
        connections = 1
        start = time.perf_counter()
        for chunk in chunks:
            decoder.feed(chunk)
            if decoder.exhausted:  # the session closes; the attacker reconnects
                decoder = fresh()
                connections += 1
        best = min(best, time.perf_counter() - start)
    return best / (len(data) / MB), connections


def decoder_part(megabytes: float, best_of: int = 3) -> None:
    data = streams(int(megabytes * MB))
    print(f"Decoder, {megabytes:g} MB per stream, best of {best_of}")
    for piece in (7, 64 * 1024):
        print(f"  fed in {piece:,}-byte pieces")
        baseline, _ = cost_per_mb(data["random junk"], piece, best_of)
        for name, stream in data.items():
            cost, connections = cost_per_mb(stream, piece, best_of)
            print(
                f"    {name:36s} {cost * 1000:8.2f} ms/MB  {cost / baseline:5.2f}x junk"
                f"  ({connections:,} connections)"
            )


async def child_server() -> None:
    logging.disable(logging.WARNING)  # the server's own log lines are not measured
    server = AlphaServer(lambda event: None, host=HOST, port=0)
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()


async def printing_child(rows_per_minute: int | None) -> None:
    """The terminal ``serve`` as the measured case ran it; its output to /dev/null."""
    logging.disable(logging.WARNING)
    if rows_per_minute is not None:
        with contextlib.suppress(ImportError):  # before #23 there was no bound
            load("server.pacing").ROWS_PER_MINUTE = rows_per_minute
    server = AlphaServer(load("cli")._print_event, host=HOST, port=0)
    await server.start()
    print(server.port, flush=True)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.dup2(devnull, sys.stderr.fileno())
    await asyncio.Event().wait()


def history_payload(limit: int = 64 * 1024) -> bytes:
    """As many one-minute rows for B as fit in ``limit`` bytes (~1 400)."""
    lines = ["Date,Time,SN,Ppv1,SOC"]
    size = len(lines[0]) + 1
    minute = datetime(2021, 3, 24)
    while True:
        line = f"{minute:%Y/%m/%d,%H:%M:%S},{HISTORY_SERIAL},1250,33.2"
        if size + len(line) + 1 > limit:
            return ("\n".join(lines) + "\n").encode("ascii")
        lines.append(line)
        size += len(line) + 1
        minute += timedelta(minutes=1)


async def uploader(port: int, stop: asyncio.Event) -> int:
    """Link B: log in, then 64 KiB history frames back to back, each acked; rows sent."""
    reader, writer = await asyncio.open_connection(HOST, port)
    decoder = FrameDecoder()
    payload = history_payload()
    wire = Frame(1, 12, payload).encode()
    rows = payload.count(b"\n") - 1
    login = f'{{"UserName":"{HISTORY_SERIAL}","Password":"x"}}'.encode()
    sent = 0
    for frame in (Frame(1, 2, login).encode(), *([wire] * 1_000_000)):
        if stop.is_set():
            break
        writer.write(frame)
        await writer.drain()
        got = 0
        while not got:
            data = await reader.read(4096)
            if not data:
                raise ConnectionResetError("uploader dropped")
            got = sum(isinstance(f, Frame) for f in decoder.feed(data))
        sent += rows if frame is wire else 0
    writer.close()
    return sent


def spread(latencies: list[float]) -> tuple[float, float, float]:
    """p50, p99 and max in ms."""
    ordered = sorted(latencies)
    return (
        statistics.median(ordered) * 1000,
        ordered[int(len(ordered) * 0.99)] * 1000,
        ordered[-1] * 1000,
    )


async def upload_part(seconds: float, settle: float = 0.5) -> None:
    loop = asyncio.get_running_loop()
    print(
        f"Server with the terminal's printing, battery A acked {seconds:g} s with link "
        "B silent, then while B sends 64 KiB history frames back to back"
    )
    quiet: tuple[float, float, float] | None = None
    for label, bound in (
        ("B silent", None),
        ("B uploading, rows/min bound lifted", 10**9),
        ("B uploading, rows/min bound as shipped", None),
    ):
        process, port = await child_port(
            "benchmarks.hostile",
            "--printing-child",
            *(["--rows-per-minute", str(bound)] if bound else []),
        )
        try:
            await asyncio.sleep(settle)
            stop = asyncio.Event()
            upload = None
            if label != "B silent":
                upload = loop.create_task(uploader(port, stop))
                await asyncio.sleep(settle)  # B's upload is under way
            started = loop.time()
            latencies = await battery(port, loop.time() + seconds)
            elapsed = loop.time() - started
            stop.set()
            rows = await upload if upload else 0
        finally:
            process.terminate()
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
        p50, p99, worst = spread(latencies)
        line = (
            f"  {label:40s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  max {worst:7.2f} ms"
        )
        if quiet is None:
            quiet = (p50, p99, worst)
        else:
            line += (
                f"  ({p50 / quiet[0]:.0f}x / {p99 / quiet[1]:.0f}x / "
                f"{worst / quiet[2]:.0f}x silent; B {rows / elapsed:,.0f} rows/s)"
            )
        print(line, flush=True)


async def battery(port: int, stop_at: float) -> list[float]:
    reader, writer = await asyncio.open_connection(HOST, port)
    decoder = FrameDecoder()
    loop = asyncio.get_running_loop()
    wire = Frame(1, 16, REALTIME).encode()
    writer.write(Frame(1, 2, b'{"UserName":"AL9002021030042"}').encode())
    latencies: list[float] = []
    while loop.time() < stop_at:
        start = time.perf_counter()
        writer.write(wire)
        await writer.drain()
        got = 0
        while got < (2 if not latencies else 1):
            data = await reader.read(4096)
            if not data:
                raise ConnectionResetError("battery dropped")
            got += sum(isinstance(f, Frame) for f in decoder.feed(data))
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.01)
    writer.close()
    return latencies


async def attacker(
    port: int, stream: bytes, stop: Callable[[], bool], source: str
) -> int:
    """Send ``stream`` in 7-byte pieces, reconnecting whenever the server hangs up.

    From ``source``: the server limits how fast one address may connect, so the storm
    comes from a LAN of devices, one each.
    """
    connections = 0
    while not stop():
        connections += 1
        try:
            _, writer = await asyncio.open_connection(
                HOST, port, local_addr=(source, 0)
            )
            for chunk in pieces(stream, 7 * 512):
                if stop():
                    break
                writer.write(chunk)
                await writer.drain()
                await asyncio.sleep(0)
            writer.transport.abort()
        except OSError:
            await asyncio.sleep(0.01)
    return connections


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99)] * 1000
    return f"p50 {p50:6.2f} ms, p99 {p99:6.2f} ms ({len(ordered)} acks)"


async def server_part(
    seconds: float, connections: int = JUNK_CONNECTIONS, settle: float = 0.5
) -> None:
    process, port = await child_port("benchmarks.hostile", "--child")
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(settle)
        rss_idle = proc_rss_mib(process.pid)
        quiet = await battery(port, loop.time() + seconds)
        stop_at = loop.time() + seconds + 1

        def stop() -> bool:
            return loop.time() >= stop_at

        cpu_before = proc_cpu_seconds(process.pid)
        # The attackers run in their own process: the battery's loop stays free.
        attack = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.hostile",
            "--attack",
            str(port),
            "--seconds",
            str(seconds + 1),
            "--connections",
            str(connections),
            stdout=asyncio.subprocess.PIPE,
        )
        assert attack.stdout is not None
        await asyncio.sleep(2 * settle)
        rss_storm = proc_rss_mib(process.pid)
        storm = await battery(port, loop.time() + seconds)
        rss_storm = max(rss_storm, proc_rss_mib(process.pid))
        opened = int(await attack.stdout.readline())
        await attack.wait()
        cpu = proc_cpu_seconds(process.pid) - cpu_before
        print(
            f"Server, one battery acked {seconds:g} s alone, then beside {connections} hostile connections"
        )
        print(f"  quiet  {summary(quiet)}")
        print(
            f"  storm  {summary(storm)}  ({opened:,} hostile connections opened, server CPU {cpu:.1f} s)"
        )
        print(f"  RSS    idle {rss_idle:.1f} MiB, during the storm {rss_storm:.1f} MiB")
    finally:
        process.terminate()
        with contextlib.suppress(ProcessLookupError):
            await process.wait()


async def attack_part(port: int, seconds: float, connections: int) -> None:
    """The storm: ``connections`` sending the worst streams, reconnecting when cut."""
    loop = asyncio.get_running_loop()
    data = streams(2 * MB)
    worst = [
        data["overlapping plausible headers"],
        data["headers claiming more than the cap"],
        data["damaged frames back to back"],
        data["random junk"],
    ]
    stop_at = loop.time() + seconds

    def stop() -> bool:
        return loop.time() >= stop_at

    counts = await asyncio.gather(
        *(
            attacker(port, worst[n % len(worst)], stop, f"127.0.2.{n + 1}")
            for n in range(connections)
        )
    )
    print(sum(counts), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--attack", type=int, metavar="PORT")
    parser.add_argument("--printing-child", action="store_true")
    parser.add_argument("--rows-per-minute", type=int)
    parser.add_argument("--connections", type=int, default=JUNK_CONNECTIONS)
    parser.add_argument(
        "--part", type=int, choices=(1, 2, 3), help="run only this part"
    )
    smoke.add_flag(parser)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child_server())
    elif args.printing_child:
        asyncio.run(printing_child(args.rows_per_minute))
    elif args.attack:
        asyncio.run(attack_part(args.attack, args.seconds, args.connections))
    elif args.quick:
        smoke.announce(quick=True)
        if args.part in (None, 1):
            decoder_part(QUICK_MEGABYTES, best_of=1)
        if args.part in (None, 2):
            asyncio.run(server_part(QUICK_SECONDS, QUICK_JUNK_CONNECTIONS, 0.1))
        if args.part in (None, 3):
            asyncio.run(upload_part(QUICK_SECONDS, 0.1))
    else:
        if args.part in (None, 1):
            decoder_part(args.megabytes)
        if args.part in (None, 2):
            asyncio.run(server_part(args.seconds))
        if args.part in (None, 3):
            asyncio.run(upload_part(args.seconds))
