"""What one frame costs from bytes to typed message and acknowledgement, with anchors.

Run: ``.venv/bin/python -m benchmarks.codec [--quick]``. For each frame type a user's battery
sends (the realtime record every 10 s, the system report, a history frame of three
rows as the battery sends them, and one of 100 rows), the full per-frame path is
timed: cut the frame from the stream, check its CRC, type the payload
(``decode_message``) and build the acknowledgement. Anchors, in the same run:

- *seed*: the original home fake server's decode path, a pure-Python ``crccheck``
  CRC-16/MODBUS and ``json.loads`` of the payload (the CSV text decoded), then its ack;
- *floor*: the least any Python decoder can do, ``fastcrc`` (C) and ``orjson.loads``
  (for history frames only the text is decoded, which types nothing);
- *csv* (history frames only): ``fastcrc`` and the stdlib ``csv`` reader splitting the
  same text into rows of cells, a fairer floor for CSV than decoding alone.

The decoder remembers each parser's answers for the strings it has read, and the same
frame repeated would always find them there: so one more row sends realtime records
whose numbers are new every time (a fresh random value in every power field).

Printed: frames per second and the ratios ours/seed, ours/floor and ours/csv.

A second table times the record builders (issue #29): today's table-driven plans
(``codec/record_plans.py``: one tuple per field, one loop per record) against the
straight-line functions the library shipped before, rendered from the same field
declarations by ``benchmarks/straight_line.py``. For the realtime, detailed and history
records and the system report: the builder alone (µs a record) and the whole frame
path (frames per second), each with table/straight-line; both builders must build
identical records, or the run fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import csv
import io
from itertools import cycle
import json
from pathlib import Path
import random
import struct
import time

from crccheck.crc import Crc16Modbus
import fastcrc
import orjson

from . import smoke
from .library import load
from .straight_line import straight_line_builders

# The library alone, as the other server benchmarks load it: the same code, without
# importing Home Assistant first (seconds, and nothing the codec's path touches).
_library = load()
Frame = _library.Frame
FrameDecoder = _library.FrameDecoder
acknowledge = _library.acknowledge
decode_message = _library.decode_message
_messages = load("codec.messages")
_records = load("codec.records")
TABLE_DRIVEN = load("codec.record_plans").BUILDERS
STRAIGHT_LINE = straight_line_builders(_records)

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures"
HEADER = struct.Struct(">BBBI")
ACK = b'{"Status":"Success"}'


def history_frame(rows: int) -> bytes:
    session = json.loads((FIXTURES / "session-2021-03-24.json").read_text())
    lines = [session["csv_header"]]
    recorded = session["history_rows"]
    lines += [recorded[n % len(recorded)] for n in range(rows)]
    return Frame(1, 12, "\n".join(lines).encode()).encode()


def fresh_realtime(count: int = 5000) -> list[bytes]:
    """Realtime frames whose power readings were never seen before (fixed seed)."""
    record = json.loads((FIXTURES / "1-1-16.json").read_text())
    rng = random.Random(16)
    wires = []
    for _ in range(count):
        for key in ("Ppv1", "Ppv2", "PrealL1", "PmeterL1", "Pbat", "Sva", "VarAC"):
            record[key] = f"{rng.uniform(-5000, 5000):.4f}"
        wires.append(Frame(1, 16, json.dumps(record).encode()).encode())
    return wires


def frames(fresh: int = 5000) -> dict[str, list[bytes]]:
    return {
        "realtime record (16 keys)": [
            Frame(1, 16, (FIXTURES / "1-1-16.json").read_bytes().strip()).encode()
        ],
        "realtime, new values": fresh_realtime(fresh),
        "system report": [
            Frame(1, 4, (FIXTURES / "1-1-4.json").read_bytes().strip()).encode()
        ],
        "history, 3 rows": [history_frame(3)],
        "history, 100 rows": [history_frame(100)],
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


def csv_floor(wire: bytes) -> object:
    kind, command, length, payload, crc = _cut(wire)
    assert fastcrc.crc16.modbus(wire[: 7 + length]) == crc
    rows = list(csv.reader(io.StringIO(payload.decode())))
    head = HEADER.pack(1, 2, command, len(ACK)) + ACK
    head + struct.pack(">H", fastcrc.crc16.modbus(head))
    return rows


def rate(
    path: Callable[[bytes], object],
    wires: list[bytes],
    seconds: float = 0.2,
    again: int = 4,
) -> float:
    """Frames per second, best of 1 + ``again`` runs of about ``seconds``, taking the
    wires in turn."""
    feed: Iterator[bytes] = cycle(wires)
    runs = 1
    while True:
        began = time.perf_counter()
        for _ in range(runs):
            path(next(feed))
        elapsed = time.perf_counter() - began
        if elapsed >= seconds:
            break
        runs *= 2
    best = elapsed
    for _ in range(again):
        began = time.perf_counter()
        for _ in range(runs):
            path(next(feed))
        best = min(best, time.perf_counter() - began)
    return runs / best


def main(*, quick: bool) -> None:
    smoke.announce(quick=quick)
    # Short mode: each path once on each kind of frame.
    seconds, again = (0.0, 0) if quick else (0.2, 4)
    print(
        f"{'frame':26s} {'bytes':>6s} {'ours/s':>9s} {'seed/s':>8s} {'floor/s':>9s}"
        f" {'csv/s':>8s}  ours/seed  ours/floor  ours/csv"
    )
    for name, wires in frames(3 if quick else 5000).items():
        mine, theirs, least = (
            rate(path, wires, seconds, again) for path in (ours, seed, floor)
        )
        history = wires[0][2] == 12
        rows = rate(csv_floor, wires, seconds, again) if history else None
        print(
            f"{name:26s} {len(wires[0]):6d} {mine:9,.0f} {theirs:8,.0f} {least:9,.0f}"
            + (f" {rows:8,.0f}" if rows else f" {'-':>8s}")
            + f"  {mine / theirs:8.1f}x  {mine / least:10.2f}"
            + (f"  {mine / rows:8.2f}" if rows else f"  {'-':>8s}")
        )
    compare_builders(seconds, again, 3 if quick else 5000)


def payloads(
    fresh: int,
) -> dict[str, tuple[type, list[dict[str, object]], list[bytes]]]:
    """Per record kind: its type, payloads as the decoder hands them, their frames."""
    session = json.loads((FIXTURES / "session-2021-03-24.json").read_text())
    header = session["csv_header"].split(",")
    rows: list[dict[str, object]] = [
        dict(zip(header, row.split(","), strict=False))
        for row in session["history_rows"]
    ]
    fresh_wires = fresh_realtime(fresh)

    def fixture(name: str) -> dict[str, object]:
        data: dict[str, object] = json.loads((FIXTURES / name).read_text())
        return data

    def wire(command: int, name: str) -> bytes:
        return Frame(1, command, (FIXTURES / name).read_bytes().strip()).encode()

    return {
        "realtime record": (
            _records.RealtimeRecord,
            [fixture("1-1-16.json")],
            [wire(16, "1-1-16.json")],
        ),
        "realtime, new values": (
            _records.RealtimeRecord,
            [json.loads(w[7:-2]) for w in fresh_wires],
            fresh_wires,
        ),
        "detailed record": (
            _records.DetailedRecord,
            [fixture("1-1-5.json")],
            [wire(5, "1-1-5.json")],
        ),
        "history row": (_records.DetailedRecord, rows, [history_frame(100)]),
        "system report": (
            _records.SystemReport,
            [fixture("1-1-4.json")],
            [wire(4, "1-1-4.json")],
        ),
    }


def same_records(cls: type, datas: list[dict[str, object]]) -> None:
    """Both builders build the same record from every payload, ``extra`` included."""
    for data in datas:
        table, straight = TABLE_DRIVEN[cls](data, {}), STRAIGHT_LINE[cls](data, {})
        assert table == straight, (table, straight)
        assert repr(table) == repr(straight)
        assert list(table.extra.items()) == list(straight.extra.items())


def compare_builders(seconds: float, again: int, fresh: int) -> None:
    print(
        f"\n{'record builders':22s} {'straight µs':>11s} {'table µs':>9s} {'ratio':>6s}"
        f"  {'straight/s':>10s} {'table/s':>9s} {'ratio':>6s}"
    )
    for name, (cls, datas, wires) in payloads(fresh).items():
        same_records(cls, datas)
        alone = [
            1e6 / rate(lambda d, b=builders[cls]: b(d, {}), datas, seconds, again)
            for builders in (STRAIGHT_LINE, TABLE_DRIVEN)
        ]
        # The frame path swaps the library's builders for the straight-line ones.
        kept = _messages.BUILDERS
        framed = []
        for builders in (STRAIGHT_LINE, TABLE_DRIVEN):
            _messages.BUILDERS = builders
            try:
                framed.append(rate(ours, wires, seconds, again))
            finally:
                _messages.BUILDERS = kept
        print(
            f"{name:22s} {alone[0]:11.2f} {alone[1]:9.2f} {alone[1] / alone[0]:5.2f}x"
            f"  {framed[0]:10,.0f} {framed[1]:9,.0f} {framed[0] / framed[1]:5.2f}x"
        )


if __name__ == "__main__":
    main(quick=smoke.parse(__doc__))
