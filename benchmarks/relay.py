"""A battery's acknowledgement latency with the cloud relay on, beside the relay off.

Run: ``.venv/bin/python -m benchmarks.relay [--quick]``. The library's server alone (no Home
Assistant), over loopback; one battery sends realtime frames one after another, each
waiting for its acknowledgement, as a battery does. Upstream, in turn: no relay (the
anchor), a cloud that answers, a port where nothing listens, a cloud that resets every
connection after a few bytes, and a cloud that accepts and never reads. Printed: ack
p50 and p99 for each, and p99 as a ratio of the relay-off run's (target: within 2x).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

from . import smoke
from .library import load

protocol = load()

FRAMES = 2000
QUICK_FRAMES = 20
# A run of 2 000 frames takes seconds: past this, something hangs.
RUN_TIMEOUT = 120.0


def _realtime(n: int) -> Any:
    body = {
        "Time": f"2021/03/24 10:{n // 60 % 60:02d}:{n % 60:02d}",
        "SN": "AL9002021030042",
        "SOC": str(n % 100),
        "Pbat": str(n),
    }
    return protocol.Frame(1, 16, json.dumps(body).encode()).encode()


async def _cloud(mode: str) -> tuple[asyncio.Server | None, int]:
    async def answer(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = protocol.FrameDecoder()
        while data := await reader.read(65536):
            if mode == "resetting":
                writer.transport.abort()
                return
            for frame in decoder.feed(data):
                if isinstance(frame, protocol.Frame) and frame.kind == 1:
                    writer.write(protocol.acknowledge(frame).encode())

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(
        stall if mode == "stalled" else answer, "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    if mode == "refusing":
        server.close()
        await server.wait_closed()
        return None, port
    return server, port


async def _run(mode: str, frames: int) -> list[float]:
    async with asyncio.timeout(RUN_TIMEOUT):
        return await _acks(mode, frames)


async def _acks(mode: str, frames: int) -> list[float]:
    cloud, port = (None, 0) if mode == "off" else await _cloud(mode)
    relay = None if mode == "off" else protocol.RelayPolicy("127.0.0.1", port)
    server = protocol.AlphaServer(
        lambda _event: None, host="127.0.0.1", port=0, relay=relay
    )
    await server.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    decoder = protocol.FrameDecoder()
    login = {"UserName": "AL9002021030042", "Password": "x", "CompanyName": "AlphaESS"}
    writer.write(protocol.Frame(1, 2, json.dumps(login).encode()).encode())
    latencies: list[float] = []
    pending = 1
    for n in range(frames + 1):
        while pending:
            for item in decoder.feed(await reader.read(65536)):
                pending -= isinstance(item, protocol.Frame)
        if n == frames:
            break
        began = time.perf_counter()
        writer.write(_realtime(n))
        pending = 1
        while pending:
            for item in decoder.feed(await reader.read(65536)):
                pending -= isinstance(item, protocol.Frame)
        latencies.append(time.perf_counter() - began)
    writer.close()
    await server.close()
    if cloud is not None:
        cloud.close()
    return latencies


def main(*, quick: bool) -> None:
    smoke.announce(quick=quick)
    frames = QUICK_FRAMES if quick else FRAMES
    results: dict[str, list[float]] = {}
    for mode in ("off", "answering", "refusing", "resetting", "stalled"):
        results[mode] = sorted(asyncio.run(_run(mode, frames)))
    anchor = results["off"][int(frames * 0.99)]
    for mode, ordered in results.items():
        p50 = statistics.median(ordered) * 1e3
        p99 = ordered[int(len(ordered) * 0.99)] * 1e3
        print(
            f"relay {mode:9s}: ack p50 {p50:.3f} ms, p99 {p99:.3f} ms "
            f"= {ordered[int(len(ordered) * 0.99)] / anchor:.2f} of the relay-off p99"
        )


if __name__ == "__main__":
    main(quick=smoke.parse(__doc__))
