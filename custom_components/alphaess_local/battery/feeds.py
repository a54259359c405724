"""Which live record is shown: receipt order, except a resent or a late one.

The battery resends records it is not sure were acknowledged, and after a stalled link
late records arrive together with new ones. Receipt order decides, and battery time
only recognises a record shown before; when the battery's clock calls a new record
older than the shown one, whichever fits the clock better wins, so a forged early
timestamp holds nothing back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from .clock import offset_from_utc

# Battery times remembered per kind of live record, to recognise a resent one.
RECENT_RECORDS: Final = 32


@dataclass(slots=True)
class LiveFeed:
    """One kind of live record: the one shown, and the battery times shown lately."""

    shown_time: datetime | None = None
    shown_offset: timedelta | None = None
    recent: deque[datetime] = field(
        default_factory=lambda: deque(maxlen=RECENT_RECORDS)
    )

    def take(
        self, time: datetime | None, received_at: datetime, estimate: timedelta | None
    ) -> bool:
        """Show a record received now, if it replaces the one shown; return whether."""
        offset = (
            offset_from_utc(time, received_at) if time is not None else timedelta(0)
        )
        if not self.takes(time, offset, estimate):
            return False
        self.show(time, offset)
        return True

    def takes(
        self, time: datetime | None, offset: timedelta, estimate: timedelta | None
    ) -> bool:
        """Whether a record received now replaces the one shown (module docstring)."""
        if time is None:
            return self.shown_time is None
        if time in self.recent:
            return False
        if self.shown_time is None or time > self.shown_time:
            return True
        if estimate is None or self.shown_offset is None:
            return False
        return abs(offset - estimate) < abs(self.shown_offset - estimate)

    def show(self, time: datetime | None, offset: timedelta) -> None:
        """Remember the record now shown."""
        if time is not None:
            self.shown_time = time
            self.shown_offset = offset
            self.recent.append(time)
