"""A 7-day backfill as the event loop sees it: the longest single step, and the total.

Run: ``.venv/bin/python -m benchmarks.backfill [--quick]``. The simulator's model writes a week
of one-minute rows (10 080, the most one Resume asks for); they arrive as the battery
sends them, three per command-12 frame, one frame per acknowledgement. Each frame is
one loop step in Home Assistant: cut and check the frame, type the rows, offer each
row's totals to the plausibility rules, and keep each hour's last row. Filing is one
more step: the hour-end totals and the statistics rows for six sensors (the recorder
writes them in its own thread, behind its compile; not measured here).

Anchor, in the same run: the previous design, which kept every row and, when the
upload ended, sorted them and computed hour ends in one step on the loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import statistics
import time

from custom_components.alphaess_local.backfill import HourEnds, hour_end_totals
from custom_components.alphaess_local.battery import BatteryState
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    Frame,
    FrameDecoder,
    HistoryUpload,
    decode_message,
)
from custom_components.alphaess_local.protocol.simulator import history_csv
from custom_components.alphaess_local.protocol.simulator.model import BatteryModel

from . import smoke

ROWS = 7 * 24 * 60
QUICK_ROWS = 2 * 60 + 3  # the short mode: two hours filed, and a few rows
SERIAL = "AL9002021030042"


def build_frames(count: int = ROWS) -> list[bytes]:
    start = datetime(2026, 6, 1, 0, 0)
    model = BatteryModel(start)
    model.advance_to(start + timedelta(minutes=count + 1))
    rows = list(model.buffered_rows)[:count]
    return [
        Frame(1, 12, history_csv(rows[i : i + 3], SERIAL)).encode()
        for i in range(0, len(rows), 3)
    ]


def fresh_state() -> BatteryState:
    state = BatteryState(SERIAL)
    state.last_seen = datetime(2026, 6, 8, 0, 5, tzinfo=UTC)
    return state


def per_frame(frames: list[bytes]) -> tuple[list[float], float, int]:
    """Each frame's step, then the filing step; and the hours filed."""
    decoder = FrameDecoder()
    state = fresh_state()
    hours = HourEnds(timedelta(0))
    seen: set[datetime] = set()
    steps: list[float] = []
    for wire in frames:
        began = time.perf_counter()
        for frame in decoder.feed(wire):
            assert isinstance(frame, Frame)
            message = decode_message(frame)
            assert isinstance(message, HistoryUpload)
            for row in message.rows:
                if row.time is None or row.time in seen:
                    continue
                seen.add(row.time)
                if state.apply_history_row(row):
                    hours.add(row)
        steps.append(time.perf_counter() - began)
    began = time.perf_counter()
    ends = hours.complete()
    rows = [
        {"start": start, "state": total, "sum": total}
        for series in ends.values()
        for start, total in series
    ]
    filing = time.perf_counter() - began
    return steps, filing, len(rows)


def previous_design(frames: list[bytes]) -> float:
    """Keep every row; at the end sort them and compute hour ends in one step."""
    decoder = FrameDecoder()
    kept: dict[datetime, DetailedRecord] = {}
    for wire in frames:
        for frame in decoder.feed(wire):
            assert isinstance(frame, Frame)
            message = decode_message(frame)
            assert isinstance(message, HistoryUpload)
            for row in message.rows:
                if row.time is not None:
                    kept[row.time] = row
                    max(kept)  # the per-frame newest-row rescan it also did
    began = time.perf_counter()
    rows = [kept[t] for t in sorted(kept)]
    state = fresh_state()
    for row in rows:
        state.apply_history_row(row)
    hour_end_totals(rows, timedelta(0))
    return time.perf_counter() - began


def main(*, quick: bool) -> None:
    smoke.announce(quick=quick)
    rows = QUICK_ROWS if quick else ROWS
    frames = build_frames(rows)
    steps, filing, statistics_rows = per_frame(frames)
    ordered = sorted(steps)
    total = sum(steps) + filing
    print(
        f"{rows:,} rows in {len(frames):,} frames ({sum(map(len, frames)) / 1e6:.1f} MB)"
    )
    print(
        f"  per frame step   median {statistics.median(ordered) * 1e3:.3f} ms, "
        f"p99 {ordered[int(len(ordered) * 0.99)] * 1e3:.3f} ms, "
        f"longest {ordered[-1] * 1e3:.2f} ms"
    )
    print(
        f"  filing step      {filing * 1e3:.2f} ms ({statistics_rows} hourly rows, 6 sensors)"
    )
    print(f"  longest step     {max(ordered[-1], filing) * 1e3:.2f} ms")
    print(
        f"  total on loop    {total * 1e3:.0f} ms, spread over {len(frames) + 1:,} steps"
    )
    before = previous_design(frames)
    print(
        f"  previous design  {before * 1e3:.1f} ms in its final step "
        f"({before / max(ordered[-1], filing):.0f}x the longest step now)"
    )


if __name__ == "__main__":
    main(quick=smoke.parse(__doc__))
