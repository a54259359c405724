"""What one frame costs from bytes to typed message and acknowledgement, with anchors.

Run: ``.venv/bin/python -m benchmarks.codec``. For each frame type a user's battery
sends (the realtime record every 10 s, the system report, a history frame of three
rows as the battery sends them, and one of 100 rows), the full per-frame path is
timed: cut the frame from the stream, check its CRC, type the payload
(``decode_message``) and build the acknowledgement. Anchors, in the same run:

- *seed*: the original home fake server's decode path, a pure-Python ``crccheck``
  CRC-16/MODBUS and ``json.loads`` of the payload (the CSV text decoded), then its ack;
- *floor*: the least any Python decoder can do, ``fastcrc`` (C) and ``orjson.loads``.

Printed: frames per second and the ratios ours/seed and ours/floor (1.0 = as fast).
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import struct
import time

from crccheck.crc import Crc16Modbus
import fastcrc
import orjson

from custom_components.alphaess_local.protocol import (
    Frame,
    FrameDecoder,
    acknowledge,
    decode_message,
)

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
HEADER = struct.Struct(">BBBI")
ACK = b'{"Status":"Success"}'


def history_frame(rows: int) -> bytes:
    session = json.loads((FIXTURES / "session-2021-03-24.json").read_text())
    lines = [session["csv_header"]]
    recorded = session["history_rows"]
    lines += [recorded[n % len(recorded)] for n in range(rows)]
    return Frame(1, 12, "\n".join(lines).encode()).encode()


def frames() -> dict[str, bytes]:
    return {
        "realtime record (16 keys)": Frame(
            1, 16, (FIXTURES / "1-1-16.json").read_bytes().strip()
        ).encode(),
        "system report": Frame(
            1, 4, (FIXTURES / "1-1-4.json").read_bytes().strip()
        ).encode(),
        "history, 3 rows": history_frame(3),
        "history, 100 rows": history_frame(100),
    }


def ours(wire: bytes) -> object:
    decoder = FrameDecoder()
    (frame,) = decoder.feed(wire)
    assert isinstance(frame, Frame)
    message = decode_message(frame)
    acknowledge(frame).encode()
    return message


def _cut(wire: bytes) -> tuple[int, int, int, bytes, int]:
    _version, kind, command, length = HEADER.unpack_from(wire)
    payload = wire[7 : 7 + length]
    (crc,) = struct.unpack_from(">H", wire, 7 + length)
    return kind, command, length, payload, crc


def seed(wire: bytes) -> object:
    kind, command, length, payload, crc = _cut(wire)
    assert Crc16Modbus.calc(wire[: 7 + length]) == crc
    data: object = (
        payload.decode() if command == 12 else json.loads(payload) if payload else {}
    )
    head = HEADER.pack(1, 2, command, len(ACK)) + ACK
    head + struct.pack(">H", Crc16Modbus.calc(head))
    return data


def floor(wire: bytes) -> object:
    kind, command, length, payload, crc = _cut(wire)
    assert fastcrc.crc16.modbus(wire[: 7 + length]) == crc
    data: object = (
        payload.decode() if command == 12 else orjson.loads(payload) if payload else {}
    )
    head = HEADER.pack(1, 2, command, len(ACK)) + ACK
    head + struct.pack(">H", fastcrc.crc16.modbus(head))
    return data


def rate(path: Callable[[bytes], object], wire: bytes) -> float:
    """Frames per second, best of five runs of about 0.2 s."""
    runs = 1
    while True:
        began = time.perf_counter()
        for _ in range(runs):
            path(wire)
        elapsed = time.perf_counter() - began
        if elapsed > 0.2:
            break
        runs *= 2
    best = elapsed
    for _ in range(4):
        began = time.perf_counter()
        for _ in range(runs):
            path(wire)
        best = min(best, time.perf_counter() - began)
    return runs / best


def main() -> None:
    print(
        f"{'frame':28s} {'bytes':>7s} {'ours/s':>10s} {'seed/s':>10s} {'floor/s':>10s}  ours/seed  ours/floor"
    )
    for name, wire in frames().items():
        mine, theirs, least = rate(ours, wire), rate(seed, wire), rate(floor, wire)
        print(
            f"{name:28s} {len(wire):7d} {mine:10,.0f} {theirs:10,.0f} {least:10,.0f}"
            f"  {mine / theirs:8.1f}x  {mine / least:9.2f}"
        )


if __name__ == "__main__":
    main()
