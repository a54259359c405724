"""Admission under a flood of connections and of made-up serials (issue #23).

Run: ``.venv/bin/python -m benchmarks.flood [--addresses 249] [--per-address 4]
[--reconnects 5] [--seconds 20] [--processes 2] [--part 1|2] [--quick]``.

The standalone server runs as the terminal runs it (``bin/alphaess-cloud serve``, the
library without Home Assistant, its JSON lines to /dev/null, its log to a temporary
file read for the port and for the lines about the battery), and
is measured over loopback as a hostile LAN device would reach it: Linux lets a
client bind any 127.0.0.x, so each flood address is one.

Part 1, many addresses: ``serve --max-connections 24``. The genuine battery (from
127.0.0.1) is accepted once before the flood: it logs in, pushes a realtime record,
waits for both acks, and disconnects. Then ``--per-address`` unidentified connections
from each of ``--addresses`` addresses (127.0.0.2 on) send nothing and reconnect at
once whenever closed, for ``--seconds``, from ``--processes`` child processes (the
battery's loop in this one stays free). Meanwhile the battery reconnects
``--reconnects`` times (login and realtime record, both acks, held ~1 s, closed).
Printed: the flood's connections a second (attempted, connected, held at least
:data:`HELD` s), and per reconnect whether the battery got in (time from connect to
both acks) or was closed or timed out without them; N of ``--reconnects``.

Part 2, made-up serials: ``serve`` with its default 16 slots and no ``--allow``. The
battery is accepted first and disconnects; then 30 made-up serials of a valid shape,
each from its own address, log in, push, and hold their connection, trying again
every 0.5 s when refused. Printed: whether the battery gets back in, and how many
made-up serials hold slots. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import resource
import sys
import tempfile
import time

from . import smoke
from .library import LAUNCHER, load
from .server import HOST, proc_cpu_seconds

_library = load()
Frame = _library.Frame
FrameDecoder = _library.FrameDecoder

ROOT = Path(__file__).resolve().parent.parent
SERIAL = "AL9002021030042"
MADE_UP = 30
# The short mode: a flood of a few addresses for a second, a few made-up serials.
QUICK = {
    "addresses": 3,
    "per_address": 2,
    "reconnects": 1,
    "seconds": 1.0,
    "processes": 1,
    "hold": 0.1,
    "made_up": 3,
    "squat": 0.5,
}
HELD = 0.5  # a flood connection kept this long (the grace) counts as held
ACK_TIMEOUT = 5.0
HOLD = 1.0


def login(serial: str) -> Frame:
    body = {"UserName": serial, "Password": "hunter2", "CompanyName": "AlphaESS"}
    return Frame(1, 2, json.dumps(body).encode())


def realtime(serial: str) -> Frame:
    body = {"Time": "2021/03/24 10:01:52", "SN": serial, "SOC": "50.0", "Pbat": "-5"}
    return Frame(1, 16, json.dumps(body).encode())


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def address(n: int) -> str:
    """The n-th flood address: 127.0.0.2 on."""
    return f"127.0.0.{2 + n}"


# --- the server -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(*extra: str):  # an async context manager of (pid, port, log)
    """``serve`` in a child process: yields its pid, port and log file."""
    stderr, name = tempfile.mkstemp(prefix="flood-serve-", suffix=".log")
    log = Path(name)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(LAUNCHER),
            "serve",
            "--host",
            HOST,
            "--port",
            "0",
            *extra,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    finally:
        os.close(stderr)
    try:
        port = None
        for _ in range(1200):  # a minute: bounded, however loaded the machine
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("listening on "):
                    port = int(line.rsplit(":", 1)[1])
            if port is not None or process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        if port is None:
            raise RuntimeError(f"serve did not start:\n{log.read_text()}")
        yield process.pid, port, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.unlink(missing_ok=True)


def log_lines(log: Path, since: int, words: tuple[str, ...]) -> list[str]:
    """The server's log lines after line ``since`` mentioning any of ``words``."""
    lines = log.read_text(errors="replace").splitlines()[since:]
    return [line for line in lines if any(word in line for word in words)]


# --- the battery (and the made-up serials) --------------------------------------


@dataclass
class Visit:
    outcome: str  # "got in", "closed", "timed out", "connect failed"
    seconds: float  # connect to both acks, or to the close / give-up
    acks: int = 0
    connect: float = 0.0  # of which the TCP connect (a full backlog drops SYNs: 1 s)


async def drop(writer: asyncio.StreamWriter) -> None:
    """Reset the connection, and collect its close (no unretrieved exception)."""
    writer.transport.abort()
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1)


async def visit(
    port: int, source: str, serial: str, hold: float = HOLD
) -> tuple[Visit, asyncio.StreamWriter | None, asyncio.StreamReader | None]:
    """Connect from ``source``, log in, push, wait for both acks; hold ``hold`` s.

    With ``hold`` negative the open connection is handed back instead of closed.
    """
    start = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(HOST, port, local_addr=(source, 0)), ACK_TIMEOUT
        )
    except (OSError, TimeoutError):
        return Visit("connect failed", time.perf_counter() - start), None, None
    connected = time.perf_counter() - start
    decoder = FrameDecoder()
    acks = 0
    try:
        writer.write(login(serial).encode() + realtime(serial).encode())
        await writer.drain()
        deadline = start + ACK_TIMEOUT
        while acks < 2:
            data = await asyncio.wait_for(
                reader.read(4096), max(0.0, deadline - time.perf_counter())
            )
            if not data:
                raise ConnectionResetError
            acks += sum(isinstance(f, Frame) for f in decoder.feed(data))
    except TimeoutError:
        await drop(writer)
        return (
            Visit("timed out", time.perf_counter() - start, acks, connected),
            None,
            None,
        )
    except (ConnectionError, OSError):
        await drop(writer)
        return Visit("closed", time.perf_counter() - start, acks, connected), None, None
    result = Visit("got in", time.perf_counter() - start, acks, connected)
    if hold < 0:
        return result, writer, reader
    try:
        if await asyncio.wait_for(reader.read(4096), hold) == b"":
            result.outcome = "got in, then closed"
    except TimeoutError:
        pass
    except (ConnectionError, OSError):
        result.outcome = "got in, then closed"
    writer.close()
    with contextlib.suppress(ConnectionError, OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), 1)
    return result, None, None


def describe(result: Visit) -> str:
    connect = f"(connect {result.connect * 1000:.1f} ms)"
    if result.outcome.startswith("got in"):
        return (
            f"{result.outcome:22s} both acks {result.seconds * 1000:8.1f} ms {connect}"
        )
    return (
        f"{result.outcome:22s} after {result.seconds * 1000:8.1f} ms "
        f"with {result.acks} of 2 acks {connect}"
    )


# --- part 1: the flood ----------------------------------------------------------


@dataclass
class Counts:
    attempts: int = 0
    connected: int = 0
    held: int = 0
    failed: int = 0


async def flooder(port: int, source: str, stop_at: float, counts: Counts) -> None:
    """One connection slot of one address: connect, wait for the close, again."""
    loop = asyncio.get_running_loop()
    while (left := stop_at - loop.time()) > 0:
        counts.attempts += 1
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, port, local_addr=(source, 0)), left
            )
            counts.connected += 1
            opened = loop.time()
            with contextlib.suppress(ConnectionError, OSError, TimeoutError):
                while await asyncio.wait_for(reader.read(4096), stop_at - loop.time()):
                    pass
            if loop.time() - opened >= HELD:
                counts.held += 1
        except (ConnectionError, OSError, TimeoutError):
            counts.failed += 1
            await asyncio.sleep(0.001)
        finally:
            if writer is not None:
                writer.transport.abort()  # a reset: no TIME_WAIT on our side


async def flood_child(port: int, first: int, count: int, per: int, seconds: float):
    """A share of the flood's addresses, in its own process; prints its counts."""
    loop = asyncio.get_running_loop()
    counts = Counts()
    stop_at = loop.time() + seconds
    started = time.perf_counter()
    await asyncio.gather(
        *(
            flooder(port, address(n), stop_at, counts)
            for n in range(first, first + count)
            for _ in range(per)
        )
    )
    print(
        json.dumps({**asdict(counts), "seconds": time.perf_counter() - started}),
        flush=True,
    )


async def flood_part(args: argparse.Namespace, hold: float = HOLD) -> None:
    loop = asyncio.get_running_loop()
    async with serve("--max-connections", "24") as (pid, port, log):
        first, _, _ = await visit(port, "127.0.0.1", SERIAL, hold)
        print(
            f"Flood: {args.addresses} addresses x {args.per_address} connections "
            f"reconnecting at once, {args.seconds:g} s, against serve "
            "--max-connections 24"
        )
        print(f"  battery before the flood     {describe(first)}")
        since = len(log.read_text(errors="replace").splitlines())
        cpu_before = proc_cpu_seconds(pid)
        share = -(-args.addresses // args.processes)
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks.flood",
                "--flood",
                str(port),
                "--first",
                str(start),
                "--count",
                str(min(share, args.addresses - start)),
                "--per-address",
                str(args.per_address),
                "--seconds",
                str(args.seconds),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            for start in range(0, args.addresses, share)
        ]
        try:
            started = loop.time()
            ramp = min(2.0, args.seconds / 4)
            spacing = (args.seconds - ramp - ACK_TIMEOUT) / max(1, args.reconnects)
            results = []
            for n in range(args.reconnects):
                await asyncio.sleep(
                    max(0.0, started + ramp + n * spacing - loop.time())
                )
                result, _, _ = await visit(port, "127.0.0.1", SERIAL, hold)
                results.append(result)
                print(
                    f"  reconnect {n + 1} at {loop.time() - started:5.1f} s     "
                    f"{describe(result)}",
                    flush=True,
                )
            totals = Counts()
            elapsed = 0.0
            for child in children:
                assert child.stdout is not None
                line = await child.stdout.readline()
                await child.wait()
                got = json.loads(line)
                elapsed = max(elapsed, got.pop("seconds"))
                for key, value in got.items():
                    setattr(totals, key, getattr(totals, key) + value)
        finally:
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
                await child.wait()
        cpu = proc_cpu_seconds(pid) - cpu_before
        got_in = sum(r.outcome.startswith("got in") for r in results)
        print(
            f"  flood: {totals.attempts / elapsed:,.0f} attempts/s, "
            f"{totals.connected / elapsed:,.0f} connected/s, "
            f"{totals.held / elapsed:,.0f} held >= {HELD:g} s/s, "
            f"{totals.failed / elapsed:,.0f} failed/s "
            f"({totals.attempts:,} attempts in {elapsed:.1f} s, "
            f"{args.processes} processes; server CPU {cpu:.1f} s)"
        )
        print(f"  battery got in on {got_in} of {args.reconnects} reconnects")
        lines = log_lines(log, since, ("127.0.0.1:", "WARNING", "ERROR"))
        if lines:
            print("  server log during the flood (battery, warnings):")
            for line in lines[:20]:
                print(f"    {line}")


# --- part 2: made-up serials ----------------------------------------------------


async def squatter(
    port: int, n: int, stop: asyncio.Event, holding: set[int], ever: set[int]
) -> None:
    """A made-up serial from its own address: log in, hold, retry when refused."""
    serial = f"AL80000000{n:05d}"
    while not stop.is_set():
        result, writer, reader = await visit(port, address(n), serial, hold=-1)
        if writer is None or reader is None:
            await asyncio.sleep(0.5)
            continue
        holding.add(n)
        ever.add(n)
        closed = asyncio.ensure_future(reader.read())
        stopped = asyncio.ensure_future(stop.wait())
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait({closed, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (closed, stopped):
            task.cancel()
        await asyncio.gather(closed, stopped, return_exceptions=True)
        holding.discard(n)
        await drop(writer)


async def serials_part(
    made_up: int = MADE_UP, squat: float = 3.0, hold: float = HOLD
) -> None:
    async with serve() as (_, port, log):
        first, _, _ = await visit(port, "127.0.0.1", SERIAL, hold)
        since = len(log.read_text(errors="replace").splitlines())
        print(
            f"Made-up serials: {made_up} from their own addresses against serve's "
            "16 slots, no --allow"
        )
        print(f"  battery first                {describe(first)}")
        stop = asyncio.Event()
        holding: set[int] = set()
        ever: set[int] = set()
        tasks = [
            asyncio.create_task(squatter(port, n, stop, holding, ever))
            for n in range(made_up)
        ]
        try:
            await asyncio.sleep(squat)  # every made-up serial has tried a few times
            before = len(holding)
            back, _, _ = await visit(port, "127.0.0.1", SERIAL, hold)
            print(f"  battery back                 {describe(back)}")
            print(
                f"  made-up serials holding a slot: {before} when the battery came "
                f"back, {len(ever)} of {made_up} ever got one"
            )
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        lines = log_lines(log, since, ("127.0.0.1:", "WARNING", "ERROR"))
        if lines:
            print("  server log (battery, warnings):")
            for line in lines[:20]:
                print(f"    {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=249)
    parser.add_argument("--per-address", type=int, default=4)
    parser.add_argument("--reconnects", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--part", type=int, choices=(1, 2), help="run only this part")
    parser.add_argument("--flood", type=int, metavar="PORT")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    smoke.add_flag(parser)
    args = parser.parse_args()
    raise_file_limit()
    made_up, squat, hold = MADE_UP, 3.0, HOLD
    if args.quick and not args.flood:
        smoke.announce(quick=True)
        made_up, squat, hold = (QUICK.pop(key) for key in ("made_up", "squat", "hold"))
        vars(args).update(QUICK)
    if args.flood:
        asyncio.run(
            flood_child(
                args.flood, args.first, args.count, args.per_address, args.seconds
            )
        )
    else:
        if args.part in (None, 1):
            asyncio.run(flood_part(args, hold))
        if args.part in (None, 2):
            asyncio.run(serials_part(made_up, squat, hold))
