"""The battery's event log: each entry once, in order, never one from the future.

The battery sends its whole recent log, newest first, every time; only entries newer
than any seen before are news. An entry stamped after the trusted clock's present is
ignored, since it would otherwise hide every later event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..protocol import EventLogEntry

if TYPE_CHECKING:
    from . import BatteryState


def take_events(state: BatteryState, entries: tuple[EventLogEntry, ...]) -> int:
    """Queue the entries newer than any seen before, oldest first; return count.

    Entries stamped after the clock's present are ignored: one would otherwise
    hide every later event.
    """
    # The log is newest first; reversing keeps same-second entries in order.
    fresh = sorted(
        (
            e
            for e in reversed(entries)
            if (state.newest_event is None or e.timestamp > state.newest_event)
            and not state.from_the_future(e.timestamp)
        ),
        key=lambda e: e.timestamp,
    )
    if fresh:
        state.events.extend(fresh)
        state.newest_event = fresh[-1].timestamp
    return len(fresh)
