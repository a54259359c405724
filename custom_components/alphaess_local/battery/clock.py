"""The battery's clock: judging a record's timestamp, following a clock that was set.

The battery has no NTP, ignores daylight saving and anything on the LAN can send it
records: its timestamps are evidence, not truth. :class:`BatteryClock` learns the
clock's offset from UTC from the records themselves; a record whose timestamp does not
fit touches nothing, unless the following records confirm that the clock was really
set (a power cut, a user at the display). Everything that turns battery time into host
time, or shows the offset to the owner, reads it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, auto
from typing import Final

from homeassistant.util import dt as dt_util

# A record fits the clock when its offset from UTC is this close to the estimate. The
# battery stamps whole seconds, drifts about a minute in weeks and sits on the LAN, so
# an honest push is a second or two off; 30 s also lets a short link stall through. It
# is also the most a forged but fitting timestamp can shift gap detection by: well
# under the two minutes that start a Resume, so it can never fake one.
CLOCK_TOLERANCE: Final = timedelta(seconds=30)
# A new offset is believed once a second record, received at least this much later,
# shows it again to within this much: a clock that was set keeps ticking with the host,
# whereas late pushes arrive together with battery times ten seconds apart.
CLOCK_STEP_SPACING: Final = timedelta(seconds=5)
CLOCK_STEP_MATCH: Final = timedelta(seconds=5)
# Share of the gap a fitting record closes: follows drift, shrugs off one late push.
CLOCK_SMOOTHING: Final = 0.125
# The clock repair issue is re-created when its figure is this far from the truth.
CLOCK_ISSUE_REFRESH: Final = timedelta(minutes=1)
# The clock offset sensor moves in steps of at least this much.
CLOCK_DISPLAY_STEP: Final = timedelta(seconds=10)


class ClockVerdict(Enum):
    """What a timed record says about the battery's clock."""

    FITS = auto()  # fits the estimate, or there is no trusted estimate yet: use it
    SETTLED = auto()  # fits and is the second sighting: the estimate is now trusted
    STEPPED = auto()  # confirmed a new offset: the clock was set; use it
    IGNORED = auto()  # does not fit the trusted estimate: touch nothing


def offset_from_utc(battery_time: datetime, received_at: datetime) -> timedelta:
    """Battery clock minus UTC, as one record shows it.

    Constant across daylight-saving changes, which the battery ignores.
    """
    return battery_time - received_at.astimezone(UTC).replace(tzinfo=None)


def local_utc_offset() -> timedelta:
    """Home Assistant's local time minus UTC, now."""
    return dt_util.now().utcoffset() or timedelta(0)


@dataclass(frozen=True, slots=True)
class _Sighting:
    """One record's reading of the battery clock, and when it arrived."""

    offset: timedelta
    received_at: datetime


def _confirms(earlier: _Sighting, later: _Sighting) -> bool:
    """Two readings of one clock: apart on the host's clock, same offset."""
    return (
        later.received_at - earlier.received_at >= CLOCK_STEP_SPACING
        and abs(later.offset - earlier.offset) <= CLOCK_STEP_MATCH
    )


@dataclass
class BatteryClock:
    """The battery clock's offset from UTC, learnt from the records' timestamps.

    The first record sets the estimate; it is trusted once a record received a few
    seconds later fits it. Until then records are used as they come, because there is
    nothing to judge them by. A trusted estimate only changes when two spaced records
    agree on a new offset, so a lone forged timestamp is ignored, while a clock set on
    the battery is followed from its second record on.
    """

    offset: timedelta | None = None
    trusted: bool = False
    # How far the offset moved at the latest STEPPED verdict.
    step: timedelta = timedelta(0)
    _set_at: datetime | None = field(default=None, repr=False)
    _candidate: _Sighting | None = field(default=None, repr=False)
    _shown: timedelta | None = field(default=None, repr=False)

    def judge(self, battery_time: datetime, received_at: datetime) -> ClockVerdict:
        """Judge one timed record, learning from it."""
        seen = _Sighting(offset_from_utc(battery_time, received_at), received_at)
        estimate = self.offset
        if estimate is None:
            self._adopt(seen, trusted=False)
            return ClockVerdict.FITS
        if abs(seen.offset - estimate) <= CLOCK_TOLERANCE:
            return self._follow(seen, estimate)
        if self._candidate is not None and _confirms(self._candidate, seen):
            self.step = seen.offset - estimate
            self._adopt(seen, trusted=True)
            return ClockVerdict.STEPPED
        self._candidate = seen
        return ClockVerdict.IGNORED if self.trusted else ClockVerdict.FITS

    def _adopt(self, seen: _Sighting, *, trusted: bool) -> None:
        self.offset = seen.offset
        self.trusted = trusted
        self._set_at = seen.received_at
        self._candidate = None

    def _follow(self, seen: _Sighting, estimate: timedelta) -> ClockVerdict:
        self.offset = estimate + (seen.offset - estimate) * CLOCK_SMOOTHING
        self._candidate = None  # the old clock is still ticking
        if self.trusted or (
            self._set_at is not None
            and seen.received_at - self._set_at < CLOCK_STEP_SPACING
        ):
            return ClockVerdict.FITS
        self.trusted = True
        return ClockVerdict.SETTLED

    # --- what the estimate says --------------------------------------------------

    @property
    def from_local_time(self) -> timedelta | None:
        """How far the clock is from local time now, as a user would see it.

        Moves by an hour when daylight saving starts or ends: the battery's clock does
        not.
        """
        if self.offset is None:
            return None
        return self.offset - local_utc_offset()

    def shown_offset(self) -> timedelta | None:
        """The offset from local time to show: it moves only when the clock does.

        The estimate wanders by a second or two with network latency; a sensor that
        followed it would write a state (and a logbook line) every few pushes.
        """
        offset = self.from_local_time
        if offset is None:
            return None
        if self._shown is None or abs(offset - self._shown) >= CLOCK_DISPLAY_STEP:
            self._shown = offset
        return self._shown

    @property
    def utc_offset(self) -> timedelta:
        """Battery clock minus UTC: as measured, else as if it kept local time."""
        return local_utc_offset() if self.offset is None else self.offset

    def host_time(self, battery_time: datetime) -> datetime:
        """When a battery time happened, on the host's clock (UTC)."""
        return (battery_time - self.utc_offset).replace(tzinfo=UTC)

    def from_the_future(self, battery_time: datetime, now: datetime | None) -> bool:
        """Later than the trusted clock says it is ``now``: nothing honest is."""
        return (
            self.trusted
            and now is not None
            and self.host_time(battery_time) > now + CLOCK_TOLERANCE
        )
