"""What Home Assistant knows about one battery, assembled from its messages.

Pure bookkeeping: the coordinator feeds it typed records from the protocol package and
entities read from it. The battery has no NTP and anything on the LAN can send records,
so the rules here see to it that nothing a peer sends can move state that a later honest
record cannot correct (docs/backfill.md):

- :class:`BatteryClock` learns the battery clock's offset from UTC; a record whose
  timestamp does not fit it touches nothing, unless the following records confirm that
  the clock was really set (a power cut, a user at the display);
- live records are ordered by receipt; battery time only recognises a resent record;
- lifetime energy totals never step backwards, and rise no faster than the system can
  unless the following records confirm the rise.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum, StrEnum, auto
import logging
from operator import attrgetter
from typing import Any, ClassVar, Final

from homeassistant.util import dt as dt_util

from .const import LOGGER
from .protocol import (
    DetailedRecord,
    EventLogEntry,
    RealtimeRecord,
    SystemReport,
    mask_serial,
)

# Lifetime totals as (key, attribute of DetailedRecord).
ENERGY_TOTALS: Final = (
    ("pv", "epv_total"),
    ("grid_import", "e_input"),
    ("grid_export", "e_output"),
    ("battery_charge", "e_charge"),
    ("battery_discharge", "e_discharge"),
    ("battery_grid_charge", "e_grid_charge"),
)
MAX_QUEUED_EVENTS: Final = 100


class Part(StrEnum):
    """The records a battery sends; an entity that reads one skips pushes of others."""

    REALTIME = "realtime"
    DETAIL = "detail"
    REPORT = "report"
    # Uploaded history goes into statistics, not into any entity's state.
    HISTORY = "history"
    # The battery's event log: only the event entity reads it.
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class PartValue[V]:
    """A value of the battery's state that only a push of ``part`` changes.

    It says so, so an entity showing it is not even asked about a push of another
    part: a realtime push every 10 s leaves the detail sensors alone.
    """

    part: Part
    read: Callable[[BatteryState], V]

    def __call__(self, state: BatteryState) -> V:
        """The value now."""
        return self.read(state)


# Where a battery keeps its newest record of each part that has one.
_RECORD_OF: Final[Mapping[Part, Callable[[BatteryState], Any]]] = {
    Part.REALTIME: attrgetter("realtime"),
    Part.DETAIL: attrgetter("detail"),
    Part.REPORT: attrgetter("report"),
}


def part_of(value_fn: object) -> Part | None:
    """The record part a description's value function reads, if it reads only one."""
    return value_fn.part if isinstance(value_fn, PartValue) else None


def from_record[V](part: Part, read: Callable[[Any], V]) -> PartValue[V | None]:
    """``read`` applied to the battery's newest record of ``part`` (``None`` before)."""
    record_of = _RECORD_OF.get(part, _no_record)

    def value(state: BatteryState) -> V | None:
        record = record_of(state)
        return None if record is None else read(record)

    return PartValue(part, value)


def _no_record(_state: BatteryState) -> None:
    """History and event logs are not a record an entity's state is read from."""


def energy_key(total: str) -> str:
    """Key of the energy sensor of lifetime total ``total`` (its unique id's end)."""
    return f"{total}_energy"


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
# Battery times remembered per kind of live record, to recognise a resent one.
RECENT_RECORDS: Final = 32
# The clock repair issue is re-created when its figure is this far from the truth.
CLOCK_ISSUE_REFRESH: Final = timedelta(minutes=1)
# The clock offset sensor moves in steps of at least this much.
CLOCK_DISPLAY_STEP: Final = timedelta(seconds=10)

# Lifetime totals rise at most this fast: the larger of the PV array and the inverter
# rating in the battery's report, times a margin (grid import can exceed both, for a
# wallbox say), or the default without a report. Never more than the default, so a
# forged report cannot loosen the limit.
DEFAULT_MAX_POWER_KW: Final = 50.0
POWER_MARGIN: Final = 3.0
# Totals come in 0.1 kWh steps; this absorbs rounding and clock jitter.
ENERGY_SLACK_KWH: Final = 1.0
# An implausible total is believed once this many further records over this long
# carry on from it.
HELD_CONFIRMATIONS: Final = 3
HELD_CONFIRMATION_SPAN: Final = timedelta(minutes=10)


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


@dataclass(slots=True)
class _Feed:
    """One kind of live record: the one shown, and the battery times shown lately."""

    shown_time: datetime | None = None
    shown_offset: timedelta | None = None
    recent: deque[datetime] = field(
        default_factory=lambda: deque(maxlen=RECENT_RECORDS)
    )

    def takes(
        self, time: datetime | None, offset: timedelta, estimate: timedelta | None
    ) -> bool:
        """Whether a record received now replaces the one shown.

        Receipt order, except for a resent record (a battery time shown before) and a
        late one: when the battery's clock calls the new record older, either it is
        late or the shown one was stamped early, and whichever fits the clock better
        wins. So a forged early timestamp holds nothing back.
        """
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


@dataclass(slots=True)
class _Held:
    """A lifetime total that rose implausibly fast, waiting for confirmation."""

    value: float
    at: datetime
    confirmations: int = 0


@dataclass
class BatteryState:
    """Latest known state of one battery (keyed by serial in the coordinator)."""

    serial: str
    realtime: RealtimeRecord | None = None
    detail: DetailedRecord | None = None
    report: SystemReport | None = None
    last_seen: datetime | None = None
    connected: bool = False
    # When the current link came up (None while disconnected): changes rarely.
    connected_since: datetime | None = None
    available: bool = True
    three_phase: bool = False
    # Accepted lifetime totals, and when each was accepted (host clock, UTC).
    energy: dict[str, float] = field(default_factory=dict)
    energy_at: dict[str, datetime] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    newest_event: datetime | None = None
    # Battery clock of the newest record of any kind, and of the newest that carried
    # lifetime energy (detailed records and history rows): where a Resume starts.
    newest_record: datetime | None = None
    newest_energy_record: datetime | None = None
    # History owed to the statistics (battery clock): from the last energy record before
    # an outage to the first record after it. Kept until filed, across restarts.
    owed_from: datetime | None = None
    owed_until: datetime | None = None
    # Per energy total: the hours before this (UTC) are filed in its statistics.
    filed_until: dict[str, datetime] = field(default_factory=dict)
    clock: BatteryClock = field(default_factory=BatteryClock)
    # The offset from local time the clock repair issue states, while it is raised.
    clock_issue: timedelta | None = None
    events: deque[EventLogEntry] = field(
        default_factory=lambda: deque(maxlen=MAX_QUEUED_EVENTS)
    )
    _realtime_feed: _Feed = field(default_factory=_Feed, repr=False)
    _detail_feed: _Feed = field(default_factory=_Feed, repr=False)
    _held: dict[str, _Held] = field(default_factory=dict, repr=False)
    _shown_clock_offset: timedelta | None = field(default=None, repr=False)
    _warned: set[str] = field(default_factory=set, repr=False)

    # What survives a restart: the watermarks the backfill and the event log need, the
    # totals that must never step backwards, and a trusted clock estimate.
    _STORED_TIMES: ClassVar = (
        "newest_event",
        "newest_record",
        "newest_energy_record",
        "owed_from",
        "owed_until",
    )

    def to_store(self) -> dict[str, Any]:
        """The part of the state kept in Home Assistant's Store."""
        stored: dict[str, Any] = {
            name: _iso(getattr(self, name)) for name in self._STORED_TIMES
        }
        stored["energy"] = dict(self.energy)
        stored["energy_at"] = {
            key: at.isoformat() for key, at in self.energy_at.items()
        }
        if self.clock.trusted and self.clock.offset is not None:
            stored["clock_offset"] = self.clock.offset.total_seconds()
        stored["filed_until"] = {
            key: until.isoformat() for key, until in self.filed_until.items()
        }
        return stored

    def restore(self, stored: Mapping[str, Any]) -> None:
        """Take back what :meth:`to_store` kept (older stores lack the newer keys)."""
        for name in self._STORED_TIMES:
            value = stored.get(name)
            setattr(self, name, datetime.fromisoformat(value) if value else None)
        if (offset := stored.get("clock_offset")) is not None:
            self.clock = BatteryClock(timedelta(seconds=offset), trusted=True)
        self.energy.update(stored.get("energy", {}))
        for key, until in stored.get("filed_until", {}).items():
            self.filed_until[key] = datetime.fromisoformat(until)
        times = stored.get("energy_at", {})
        for key in self.energy:
            if at := times.get(key):
                self.energy_at[key] = datetime.fromisoformat(at)
            elif self.newest_energy_record is not None:
                # Kept before times were: the totals date from the newest record
                # that carried energy, and a rise is judged from then.
                self.energy_at[key] = self._host_time(self.newest_energy_record)

    @property
    def shape(self) -> tuple[object, ...]:
        """What entities the battery can have: which data it has sent, not its values.

        Entity discovery looks at a battery again only when this changes; every
        description's ``exists_fn`` reads nothing but what is here.
        """
        detail = self.detail
        return (
            self.last_seen is not None,
            self.realtime is not None,
            detail is not None,
            self.report is not None,
            self.three_phase,
            detail.bms_num if detail is not None else None,
            len(self.energy),
            self.clock.offset is not None,
        )

    # --- the clock ------------------------------------------------------------------

    @property
    def clock_offset(self) -> timedelta | None:
        """How far the battery's clock is from local time now, as a user would see it.

        Moves by an hour when daylight saving starts or ends: the battery's clock does
        not.
        """
        if self.clock.offset is None:
            return None
        return self.clock.offset - _local_utc_offset()

    def shown_clock_offset(self) -> timedelta | None:
        """The clock offset to show: it moves only when the battery's clock does.

        The estimate wanders by a second or two with network latency; a sensor that
        followed it would write a state (and a logbook line) every few pushes.
        """
        offset = self.clock_offset
        shown = self._shown_clock_offset
        if offset is None:
            return None
        if shown is None or abs(offset - shown) >= CLOCK_DISPLAY_STEP:
            shown = self._shown_clock_offset = offset
        return shown

    @property
    def utc_offset(self) -> timedelta:
        """Battery clock minus UTC: as measured, else as if it kept local time."""
        if self.clock.offset is None:
            return _local_utc_offset()
        return self.clock.offset

    def admit(self, battery_time: datetime, received_at: datetime) -> ClockVerdict:
        """Judge a timed live record by the clock, before it may touch anything.

        When the clock was set (or first trusted), the battery-time watermarks move
        with it, so gap detection compares like with like and nothing stays pinned to
        a time the clock will not reach.
        """
        before = self.clock.offset
        verdict = self.clock.judge(battery_time, received_at)
        if verdict is ClockVerdict.IGNORED and before is not None:
            self.counters["clock_ignored"] += 1
            self._warn_once(
                "clock",
                "Battery %s sent a record stamped %s, %.0f s away from its clock; "
                "ignored unless the next records show the clock was set",
                mask_serial(self.serial),
                battery_time,
                (offset_from_utc(battery_time, received_at) - before).total_seconds(),
            )
        elif verdict is ClockVerdict.STEPPED:
            LOGGER.info(
                "Battery %s: its clock was set (%+.0f s); following it",
                mask_serial(self.serial),
                self.clock.step.total_seconds(),
            )
            self._rebase(self.clock.step, battery_time)
        elif verdict is ClockVerdict.SETTLED:
            self._rebase(timedelta(0), battery_time)
        return verdict

    def _rebase(self, step: timedelta, battery_time: datetime) -> None:
        """Move the watermarks into the clock's new frame; none may lie ahead of it."""
        limit = battery_time + CLOCK_TOLERANCE
        for name in self._STORED_TIMES:
            value: datetime | None = getattr(self, name)
            if value is not None:
                setattr(self, name, min(value + step, limit))
        if step:
            for feed in (self._realtime_feed, self._detail_feed):
                feed.recent.clear()  # the old frame's times may come round again

    def _host_time(self, battery_time: datetime) -> datetime:
        """When a battery time happened, on the host's clock (UTC)."""
        return (battery_time - self.utc_offset).replace(tzinfo=UTC)

    def _from_the_future(self, battery_time: datetime) -> bool:
        """Later than the trusted clock says it is now: nothing honest is."""
        return (
            self.clock.trusted
            and self.last_seen is not None
            and self._host_time(battery_time) > self.last_seen + CLOCK_TOLERANCE
        )

    # --- live records ---------------------------------------------------------------

    def apply_realtime(self, record: RealtimeRecord, received_at: datetime) -> bool:
        """Show ``record`` unless it is resent or late; return whether it was shown."""
        if not self._take(self._realtime_feed, record.time, received_at):
            return False
        self.realtime = record
        self._note_phases(
            record.preal_l2, record.preal_l3, record.pmeter_l2, record.pmeter_l3
        )
        return True

    def apply_detail(self, record: DetailedRecord, received_at: datetime) -> bool:
        """Show ``record`` unless resent or late, and offer its totals; return shown."""
        if not self._take(self._detail_feed, record.time, received_at):
            return False
        self.detail = record
        self._note_phases(record.ub, record.uc, record.pmeter_l2, record.pmeter_l3)
        self._offer_totals(record, received_at)
        self._raise_energy_watermark(record.time)
        return True

    def _take(self, feed: _Feed, time: datetime | None, received_at: datetime) -> bool:
        offset = (
            offset_from_utc(time, received_at) if time is not None else timedelta(0)
        )
        if not feed.takes(time, offset, self.clock.offset):
            return False
        feed.show(time, offset)
        return True

    def apply_history_row(self, record: DetailedRecord) -> bool:
        """Offer a buffered row's totals; return whether the row is credible.

        A row from beyond the battery's clock, or one whose totals rose implausibly,
        is kept out of the statistics too.
        """
        if record.time is None:
            return False
        if self._from_the_future(record.time):
            self.counters["rows_ignored"] += 1
            self._warn_once(
                "rows",
                "Battery %s uploaded a history row stamped %s, after its clock's "
                "present; ignored",
                mask_serial(self.serial),
                record.time,
            )
            return False
        if not self._offer_totals(record, self._host_time(record.time)):
            return False
        self._raise_energy_watermark(record.time)
        return True

    def _raise_energy_watermark(self, time: datetime | None) -> None:
        if time is not None and (
            self.newest_energy_record is None or time > self.newest_energy_record
        ):
            self.newest_energy_record = time

    # --- lifetime energy ------------------------------------------------------------

    def _offer_totals(self, record: DetailedRecord, at: datetime) -> bool:
        """Offer every total a record carries; False when any was held back."""
        credible = True
        for key, attribute in ENERGY_TOTALS:
            value: float | None = getattr(record, attribute)
            if value is not None and not self._offer_total(key, value, at):
                credible = False
        return credible

    def _offer_total(self, key: str, value: float, at: datetime) -> bool:
        """Accept, ignore or hold back one total; False when it is held back.

        A drop is never shown (nothing to hold). A rise faster than the system can
        produce waits until further records carry on from it; a record that carries
        on from the accepted total instead discards it.
        """
        accepted = self.energy.get(key)
        if accepted is None or self._plausible(
            value, accepted, self.energy_at.get(key), at
        ):
            self._accept(key, value, at)
            return True
        if value < accepted:
            return True
        held = self._held.get(key)
        if held is None or not self._plausible(value, held.value, held.at, at):
            self._hold(key, value, at)
            return False
        held.confirmations += 1
        if (
            held.confirmations < HELD_CONFIRMATIONS
            or at - held.at < HELD_CONFIRMATION_SPAN
        ):
            return False
        LOGGER.info(
            "Battery %s: %s total %.1f kWh confirmed by %d records; accepted",
            mask_serial(self.serial),
            key,
            value,
            held.confirmations,
        )
        self._accept(key, value, at)
        return True

    def _plausible(
        self, value: float, base: float, base_at: datetime | None, at: datetime
    ) -> bool:
        """Whether a total can follow ``base`` (accepted at ``base_at``) by ``at``.

        With no time for ``base`` (a store from before times were kept) nothing bounds
        the rise.
        """
        if value < base:
            return False
        if base_at is None:
            return True
        hours = max((at - base_at).total_seconds(), 0.0) / 3600
        return value - base <= self.max_power_kw * hours + ENERGY_SLACK_KWH

    def _accept(self, key: str, value: float, at: datetime) -> None:
        self.energy[key] = value
        previous = self.energy_at.get(key)
        self.energy_at[key] = at if previous is None else max(previous, at)
        self._held.pop(key, None)

    def _hold(self, key: str, value: float, at: datetime) -> None:
        self._held[key] = _Held(value, at)
        self.counters["energy_held"] += 1
        self._warn_once(
            f"energy_{key}",
            "Battery %s reported a %s total of %.1f kWh, more than the system can have "
            "produced since %.1f kWh; held back until further records confirm it",
            mask_serial(self.serial),
            key,
            value,
            self.energy[key],
        )

    @property
    def max_power_kw(self) -> float:
        """The fastest any lifetime total can rise, in kW."""
        report = self.report
        rated = (
            max(report.pv_capacity or 0.0, report.inverter_power or 0.0)
            if report
            else 0.0
        )
        if rated <= 0:
            return DEFAULT_MAX_POWER_KW
        return min(rated * POWER_MARGIN, DEFAULT_MAX_POWER_KW)

    # --- events ---------------------------------------------------------------------

    def apply_events(self, entries: tuple[EventLogEntry, ...]) -> int:
        """Queue the entries newer than any seen before, oldest first; return count.

        Entries stamped after the clock's present are ignored: one would otherwise
        hide every later event.
        """
        # The log is newest first; reversing keeps same-second entries in order.
        fresh = sorted(
            (
                e
                for e in reversed(entries)
                if (self.newest_event is None or e.timestamp > self.newest_event)
                and not self._from_the_future(e.timestamp)
            ),
            key=lambda e: e.timestamp,
        )
        if fresh:
            self.events.extend(fresh)
            self.newest_event = fresh[-1].timestamp
        return len(fresh)

    # --- helpers --------------------------------------------------------------------

    def _note_phases(self, *values: float | None) -> None:
        if any(values):
            self.three_phase = True

    def _warn_once(self, kind: str, message: str, *args: object) -> None:
        """Warn the first time, then only at debug level: a peer can repeat itself."""
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        LOGGER.log(level, message, *args)

    @property
    def errors(self) -> dict[str, int]:
        """Non-zero error and warning codes of the newest detailed record."""
        return self.detail.error_codes if self.detail else {}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _local_utc_offset() -> timedelta:
    return dt_util.now().utcoffset() or timedelta(0)


def heard(state: BatteryState) -> bool:
    """Whether the battery has sent anything since Home Assistant started."""
    return state.last_seen is not None
