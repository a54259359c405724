"""One battery's upload in progress: what we asked for and what has arrived."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from homeassistant.core import CALLBACK_TYPE

from .hours import HourEnds


@dataclass
class Upload:
    """One battery's upload: what we asked for and what has arrived."""

    end: datetime | None  # battery time asked up to; None: an upload we did not ask for
    hours: HourEnds
    # The battery holds its newest row for this request within the minute before this
    # (battery time; see :meth:`HistoryBackfill._ask`).
    held: datetime | None = None
    seen: set[datetime] = field(default_factory=set)
    newest: datetime | None = None
    quiet_timer: CALLBACK_TYPE | None = None

    def reached(self, slack: timedelta) -> bool:
        """Whether the rows reach the newest the battery holds, give or take ``slack``.

        An upload nobody asked for has no end: whatever came is all there is.
        """
        if self.end is None or self.held is None:
            return True
        return self.newest is not None and self.newest > self.held - slack
