"""Whether a timed live record may touch a battery's state, by the battery's clock.

The first thing that happens to every realtime and detailed record: the clock
(``clock.py``) judges its timestamp, and only a record that fits may move anything.
When the clock was set (or first trusted), the battery-time watermarks move with it,
so gap detection compares like with like and nothing stays pinned to a time the clock
will not reach.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..const import LOGGER
from ..protocol import mask_serial
from .clock import CLOCK_TOLERANCE, ClockVerdict, offset_from_utc
from .persistence import STORED_TIMES

if TYPE_CHECKING:
    from . import BatteryState


def admit(
    state: BatteryState, battery_time: datetime, received_at: datetime
) -> ClockVerdict:
    """Judge a timed live record by the clock, before it may touch anything.

    When the clock was set (or first trusted), the battery-time watermarks move
    with it, so gap detection compares like with like and nothing stays pinned to
    a time the clock will not reach.
    """
    before = state.clock.offset
    verdict = state.clock.judge(battery_time, received_at)
    if verdict is ClockVerdict.IGNORED and before is not None:
        state.counters["clock_ignored"] += 1
        state.warn_once(
            "clock",
            "Battery %s sent a record stamped %s, %.0f s away from its clock; "
            "ignored unless the next records show the clock was set",
            mask_serial(state.serial),
            battery_time,
            (offset_from_utc(battery_time, received_at) - before).total_seconds(),
        )
    elif verdict is ClockVerdict.STEPPED:
        LOGGER.info(
            "Battery %s: its clock was set (%+.0f s); following it",
            mask_serial(state.serial),
            state.clock.step.total_seconds(),
        )
        _rebase(state, state.clock.step, battery_time)
    elif verdict is ClockVerdict.SETTLED:
        _rebase(state, timedelta(0), battery_time)
    return verdict


def _rebase(state: BatteryState, step: timedelta, battery_time: datetime) -> None:
    """Move the watermarks into the clock's new frame; none may lie ahead of it."""
    limit = battery_time + CLOCK_TOLERANCE
    for name in STORED_TIMES:
        value: datetime | None = getattr(state, name)
        if value is not None:
            setattr(state, name, min(value + step, limit))
    if step:
        for feed in (state.realtime_feed, state.detail_feed):
            feed.recent.clear()  # the old frame's times may come round again
