"""An upload's rows, reduced to each hour's end: the figures the statistics need.

Hourly statistics of an energy sensor need the lifetime total at each hour's end, and
nothing else. A battery's upload is thousands of one-minute rows, possibly out of
order and with rows sent twice: keeping only each hour's last row makes the work per
row constant and the memory per upload one row per hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from homeassistant.util import dt as dt_util

from ..battery.totals import ENERGY_TOTALS
from ..protocol import DetailedRecord

# Records further apart than this leave a gap; an hour whose last row is within this
# of its end is complete.
GAP: Final = timedelta(minutes=2)
HOUR: Final = timedelta(hours=1)


def real_time(battery_time: datetime, offset: timedelta) -> datetime:
    """Battery clock (naive, drifting, no DST) to UTC, with its offset from UTC.

    The offset is measured against UTC, not local time: the battery ignores daylight
    saving, so its offset from UTC stays put when the host's local time jumps.
    """
    return (battery_time - offset).replace(tzinfo=dt_util.UTC)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class HourEnds:
    """Each hour's last row of an upload: O(1) per row, in any order, sent twice or not.

    An hour's end total is known when its last row lies within :data:`GAP` of the end.
    """

    offset: timedelta
    last: dict[datetime, tuple[datetime, DetailedRecord]] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: DetailedRecord) -> None:
        """Take one row (its time is set)."""
        assert row.time is not None  # noqa: S101 - rows without a time are malformed
        when = real_time(row.time, self.offset)
        hour = _hour(when)
        held = self.last.get(hour)
        if held is None or when > held[0]:
            self.last[hour] = (when, row)
        self.rows += 1

    def complete(self) -> dict[str, list[tuple[datetime, float]]]:
        """Per total: (hour start, total at the hour's end) for every complete hour."""
        ends: dict[str, list[tuple[datetime, float]]] = {}
        for hour in sorted(self.last):
            when, row = self.last[hour]
            if when < hour + HOUR - GAP:
                continue
            for key, attribute in ENERGY_TOTALS:
                value = getattr(row, attribute)
                if value is not None:
                    ends.setdefault(key, []).append((hour, value))
        return ends


def hour_end_totals(
    rows: list[DetailedRecord], offset: timedelta
) -> dict[str, list[tuple[datetime, float]]]:
    """Lifetime totals at the end of each complete hour ``rows`` cover, per key."""
    ends = HourEnds(offset)
    for row in rows:
        if row.time is not None:
            ends.add(row)
    return ends.complete()
