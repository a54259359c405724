"""Filing 10 000 buffered history rows: decode the uploads, find hour-end totals.

Run: ``.venv/bin/python -m benchmarks.backfill``. Rows come as the battery sends them,
three per command-12 frame, from the simulator's model (a week at one row a minute is
10 080 rows, the most one Resume asks for). Measured: what runs on Home Assistant's event
loop (frame decoding, typing, hour-end totals and statistics rows for six sensors); the
recorder then writes ~170 hourly rows per sensor in its own thread. Baseline, in the
same run: the first version's hour-end search, which rescans every row for every hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import time

from homeassistant.util import dt as dt_util

from custom_components.alphaess_local.backfill import HOUR, hour_end_totals
from custom_components.alphaess_local.battery import ENERGY_TOTALS
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    Frame,
    FrameDecoder,
    HistoryUpload,
    decode_message,
)
from custom_components.alphaess_local.protocol.model import BatteryModel
from custom_components.alphaess_local.protocol.simulator import history_csv

ROWS = 10_000


def build_stream() -> tuple[bytes, datetime]:
    start = datetime(2026, 6, 1, 0, 0)
    model = BatteryModel(start)
    model.advance_to(start + timedelta(minutes=ROWS + 1))
    rows = list(model.buffered_rows)[:ROWS]
    frames = [
        Frame(1, 12, history_csv(rows[i : i + 3], "AL9002021030042")).encode()
        for i in range(0, len(rows), 3)
    ]
    return b"".join(frames), rows[-1].time


def decode(stream: bytes) -> list[DetailedRecord]:
    decoder = FrameDecoder()
    rows: list[DetailedRecord] = []
    for i in range(0, len(stream), 1460):
        for frame in decoder.feed(stream[i : i + 1460]):
            assert isinstance(frame, Frame)
            message = decode_message(frame)
            assert isinstance(message, HistoryUpload)
            rows.extend(message.rows)
    return rows


def quadratic_hour_ends(rows: list[DetailedRecord], now: datetime) -> int:
    """The first version: for each hour, scan all rows for the last one before its end."""
    from custom_components.alphaess_local.backfill import real_time

    timeline = [(real_time(r.time, timedelta(0)), r) for r in rows if r.time]
    current = now.replace(minute=0, second=0, microsecond=0)
    hour = timeline[0][0].replace(minute=0, second=0, microsecond=0)
    count = 0
    while hour + HOUR <= current:
        for _key, attribute in ENERGY_TOTALS:
            totals = [
                getattr(r, attribute) for when, r in timeline if when < hour + HOUR
            ]
            if totals:
                count += 1
        hour += HOUR
    return count


def main() -> None:
    stream, last = build_stream()
    now = dt_util.as_utc(last.replace(tzinfo=dt_util.get_default_time_zone())) + HOUR
    started = time.perf_counter()
    rows = decode(stream)
    decoded = time.perf_counter()
    ends = hour_end_totals(rows, timedelta(0), now)
    finished = time.perf_counter()
    hours = len(ends["pv"])
    print(
        f"{len(rows):,} rows in {len(stream) / 1e6:.1f} MB of frames, {hours} complete hours"
    )
    print(f"  decode + type frames   {(decoded - started) * 1000:8.1f} ms")
    print(
        f"  hour-end totals        {(finished - decoded) * 1000:8.1f} ms  (single pass)"
    )
    print(f"  total on the loop      {(finished - started) * 1000:8.1f} ms")
    base_start = time.perf_counter()
    quadratic_hour_ends(rows, now)
    base = time.perf_counter() - base_start
    print(
        f"  baseline hour-end scan {base * 1000:8.1f} ms  ({base / (finished - decoded):.0f}x slower)"
    )


if __name__ == "__main__":
    main()
