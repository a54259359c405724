"""Decode + CRC throughput of the frame decoder against a naive baseline.

Run: ``.venv/bin/python -m benchmarks.codec``. Streams are fed in 1460-byte chunks (one
Ethernet MSS), as a TCP socket hands them over. The baseline is measured in the same
run: a decoder with a bit-by-bit CRC loop that re-slices its buffer on every frame.
"""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
import time

from custom_components.alphaess_local.protocol import Frame, FrameDecoder, crc
from custom_components.alphaess_local.protocol.frame import CorruptBytes

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
MSS = 1460


def bitwise_crc(data: bytes) -> int:
    value = 0xFFFF
    for byte in data:
        value ^= byte
        for _ in range(8):
            value = (value >> 1) ^ 0xA001 if value & 1 else value >> 1
    return value


class NaiveDecoder:
    """What a first attempt looks like: bytes concatenation, slicing, bitwise CRC."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out = []
        while len(self.buf) >= 7:
            length = int.from_bytes(self.buf[3:7], "big")
            if len(self.buf) < 9 + length:
                break
            raw = self.buf[: 9 + length]
            if bitwise_crc(raw[:-2]) == int.from_bytes(raw[-2:], "big"):
                out.append(Frame(raw[1], raw[2], raw[7:-2], raw[0]))
            self.buf = self.buf[9 + length :]
        return out


def payloads() -> dict[str, Frame]:
    session = json.loads((FIXTURES / "session-2021-03-24.json").read_text())
    rows = session["history_rows"]
    history = "\n".join([session["csv_header"], *(rows * 5)]) + "\n"
    return {
        "realtime record": Frame(1, 16, (FIXTURES / "1-1-16.json").read_bytes()),
        "system report": Frame(1, 4, session["system_report_raw"].encode()),
        "history, 100 rows": Frame(1, 12, history.encode()),
    }


def chunks(frame: Frame, count: int) -> list[bytes]:
    stream = frame.encode() * count
    return [stream[i : i + MSS] for i in range(0, len(stream), MSS)]


def measure(
    make: Callable[[], Callable[[bytes], list[Frame | CorruptBytes] | list[Frame]]],
    pieces: list[bytes],
    count: int,
    min_seconds: float = 0.5,
) -> float:
    """Return frames per second, repeating until ``min_seconds`` have passed."""
    frames = 0
    elapsed = 0.0
    while elapsed < min_seconds:
        feed = make()
        start = time.perf_counter()
        decoded = 0
        for piece in pieces:
            decoded += len(feed(piece))
        elapsed += time.perf_counter() - start
        assert decoded == count, (decoded, count)
        frames += count
    return frames / elapsed


def python_decoder() -> Callable[[bytes], list[Frame | CorruptBytes]]:
    return FrameDecoder().feed


def main() -> None:
    fast = crc.crc16_modbus is not crc.crc16_modbus_python
    print(f"CRC in use: {'fastcrc (Rust wheel)' if fast else 'pure Python word table'}")
    header = f"{'payload':<19}{'bytes':>7}  {'decoder':<26}{'frames/s':>11}{'MB/s':>9}{'× baseline':>12}"
    print(header)
    print("-" * len(header))
    for name, frame in payloads().items():
        size = len(frame.encode())
        count = max(20, 400_000 // size)
        pieces = chunks(frame, count)
        base = measure(lambda: NaiveDecoder().feed, pieces, count)
        results = [("naive, bitwise CRC", base)]
        if fast:
            results.append(("ours, fastcrc", measure(python_decoder, pieces, count)))
        original = crc.crc16_modbus
        try:
            crc.crc16_modbus = crc.crc16_modbus_python
            import custom_components.alphaess_local.protocol.frame as frame_module

            frame_module.crc16_modbus = crc.crc16_modbus_python
            results.append(
                ("ours, Python word table", measure(python_decoder, pieces, count))
            )
        finally:
            crc.crc16_modbus = original
            frame_module.crc16_modbus = original
        for label, rate in results:
            print(
                f"{name:<19}{size:>7}  {label:<26}{rate:>11,.0f}"
                f"{rate * size / 1e6:>9.2f}{rate / base:>11.1f}×"
            )


if __name__ == "__main__":
    main()
