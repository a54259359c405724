"""What Home Assistant knows about one battery, assembled from its messages.

Pure bookkeeping: the coordinator feeds it typed records from the protocol package and
entities read from it. The battery has no NTP and anything on the LAN can send records,
so nothing a peer sends may move state that a later honest record cannot correct
(docs/backfill.md). Each rule lives in a module of its own, and :class:`BatteryState`
only composes them:

- ``clock.py``: the battery clock's offset; a record that does not fit touches nothing;
- ``feeds.py``: which live record is shown (receipt order; resent and late ones);
- ``totals.py``: lifetime totals never step backwards, nor rise faster than possible;
- ``parts.py``: which record an entity's value comes from;
- ``debt.py``: the history still owed to the statistics, kept until the backfill
  files it.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import logging
from typing import Any, ClassVar, Final

from ..const import LOGGER
from ..protocol import (
    DetailedRecord,
    EventLogEntry,
    RealtimeRecord,
    RelayStats,
    SystemReport,
    mask_serial,
)
from .clock import (
    CLOCK_ISSUE_REFRESH,
    BatteryClock,
    ClockVerdict,
)
from .debt import HistoryDebt
from .feeds import LiveFeed
from .judge import admit
from .new_events import take_events
from .parts import Part, PartValue, from_record, part_of
from .persistence import STORED_TIMES, restore, to_store
from .totals import ENERGY_TOTALS, LifetimeTotals, energy_key, max_power_kw

MAX_QUEUED_EVENTS: Final = 100


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
    counters: Counter[str] = field(default_factory=Counter)
    newest_event: datetime | None = None
    # Battery clock of the newest record of any kind, and of the newest that carried
    # lifetime energy (detailed records and history rows): where a Resume starts.
    newest_record: datetime | None = None
    newest_energy_record: datetime | None = None
    clock: BatteryClock = field(default_factory=BatteryClock)
    # The offset from local time the clock repair issue states, while it is raised.
    clock_issue: timedelta | None = None
    events: deque[EventLogEntry] = field(
        default_factory=lambda: deque(maxlen=MAX_QUEUED_EVENTS)
    )
    # The cloud relay's link for this battery, while the owner has the relay on.
    relay: RelayStats | None = None
    # History owed to the statistics: the backfill's, kept here across restarts.
    debt: HistoryDebt = field(default_factory=HistoryDebt)
    totals: LifetimeTotals = field(init=False, repr=False)
    realtime_feed: LiveFeed = field(default_factory=LiveFeed, repr=False)
    detail_feed: LiveFeed = field(default_factory=LiveFeed, repr=False)
    _warned: set[str] = field(default_factory=set, repr=False)

    # Battery-clock watermarks: kept across restarts, moved when the clock is set.
    _STORED_TIMES: ClassVar = STORED_TIMES

    def __post_init__(self) -> None:
        """The totals warn through the battery (once per total, then at debug)."""
        self.totals = LifetimeTotals(self.serial, self._held_back)

    # --- the parts' state, where readers have always found it -----------------------

    @property
    def energy(self) -> dict[str, float]:
        """Accepted lifetime totals (kWh)."""
        return self.totals.energy

    @property
    def energy_at(self) -> dict[str, datetime]:
        """When each total was accepted (host clock, UTC)."""
        return self.totals.energy_at

    @property
    def owed_from(self) -> datetime | None:
        """Start of the history owed to the statistics (battery clock)."""
        return self.debt.owed_from

    @owed_from.setter
    def owed_from(self, value: datetime | None) -> None:
        self.debt.owed_from = value

    @property
    def owed_until(self) -> datetime | None:
        """End of the history owed to the statistics (battery clock)."""
        return self.debt.owed_until

    @owed_until.setter
    def owed_until(self, value: datetime | None) -> None:
        self.debt.owed_until = value

    @property
    def filed_until(self) -> dict[str, datetime]:
        """Per energy total: the hours before this (UTC) are in its statistics."""
        return self.debt.filed_until

    # --- persistence (persistence.py) -------------------------------------------

    def to_store(self) -> dict[str, Any]:
        """The part of the state kept in Home Assistant's Store."""
        return to_store(self)

    def restore(self, stored: Mapping[str, Any]) -> None:
        """Take back what :meth:`to_store` kept (older stores lack the newer keys)."""
        restore(self, stored)

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
            self.relay is not None,
        )

    # --- the clock (rules in clock.py) ----------------------------------------------

    @property
    def clock_offset(self) -> timedelta | None:
        """How far the battery's clock is from local time now (``clock.py``)."""
        return self.clock.from_local_time

    def shown_clock_offset(self) -> timedelta | None:
        """The clock offset to show: it moves only when the battery's clock does."""
        return self.clock.shown_offset()

    @property
    def utc_offset(self) -> timedelta:
        """Battery clock minus UTC: as measured, else as if it kept local time."""
        return self.clock.utc_offset

    def admit(self, battery_time: datetime, received_at: datetime) -> ClockVerdict:
        """Judge a timed live record by the clock, before it may touch anything."""
        return admit(self, battery_time, received_at)

    def from_the_future(self, battery_time: datetime) -> bool:
        """Later than the trusted clock says it is now: nothing honest is."""
        return self.clock.from_the_future(battery_time, self.last_seen)

    # --- live records (rules in feeds.py) -------------------------------------------

    def apply_realtime(self, record: RealtimeRecord, received_at: datetime) -> bool:
        """Show ``record`` unless it is resent or late; return whether it was shown."""
        if not self.realtime_feed.take(record.time, received_at, self.clock.offset):
            return False
        self.realtime = record
        self._note_phases(
            record.preal_l2, record.preal_l3, record.pmeter_l2, record.pmeter_l3
        )
        return True

    def apply_detail(
        self, record: DetailedRecord, received_at: datetime, *, totals: bool = True
    ) -> bool:
        """Show ``record`` unless resent or late, and offer its totals; return shown.

        ``totals`` False: a login the owner has not chosen sent it (two logins
        compete for the serial), so its lifetime totals are not offered.
        """
        if not self.detail_feed.take(record.time, received_at, self.clock.offset):
            return False
        self.detail = record
        self._note_phases(record.ub, record.uc, record.pmeter_l2, record.pmeter_l3)
        if totals:
            self.totals.offer(record, received_at, self.max_power_kw)
            self._raise_energy_watermark(record.time)
        return True

    def apply_history_row(self, record: DetailedRecord) -> bool:
        """Offer a buffered row's totals; return whether the row is credible.

        A row from beyond the battery's clock, or one whose totals rose implausibly,
        is kept out of the statistics too.
        """
        if record.time is None:
            return False
        if self.from_the_future(record.time):
            self.counters["rows_ignored"] += 1
            self.warn_once(
                "rows",
                "Battery %s uploaded a history row stamped %s, after its clock's "
                "present; ignored",
                mask_serial(self.serial),
                record.time,
            )
            return False
        at = self.clock.host_time(record.time)
        if not self.totals.offer(record, at, self.max_power_kw):
            return False
        self._raise_energy_watermark(record.time)
        return True

    def _raise_energy_watermark(self, time: datetime | None) -> None:
        if time is not None and (
            self.newest_energy_record is None or time > self.newest_energy_record
        ):
            self.newest_energy_record = time

    # --- lifetime energy (rules in totals.py) ---------------------------------------

    @property
    def max_power_kw(self) -> float:
        """The fastest any lifetime total can rise, in kW."""
        return max_power_kw(self.report)

    def _held_back(self, key: str, value: float, accepted: float) -> None:
        self.counters["energy_held"] += 1
        self.warn_once(
            f"energy_{key}",
            "Battery %s reported a %s total of %.1f kWh, more than the system can have "
            "produced since %.1f kWh; held back until further records confirm it",
            mask_serial(self.serial),
            key,
            value,
            accepted,
        )

    # --- events (new_events.py) -----------------------------------------------------

    def apply_events(self, entries: tuple[EventLogEntry, ...]) -> int:
        """Queue the entries newer than any seen before, oldest first; return count."""
        return take_events(self, entries)

    # --- helpers --------------------------------------------------------------------

    def _note_phases(self, *values: float | None) -> None:
        if any(values):
            self.three_phase = True

    def warn_once(self, kind: str, message: str, *args: object) -> None:
        """Warn the first time, then only at debug level: a peer can repeat itself."""
        level = logging.DEBUG if kind in self._warned else logging.WARNING
        self._warned.add(kind)
        LOGGER.log(level, message, *args)

    @property
    def errors(self) -> dict[str, int]:
        """Non-zero error and warning codes of the newest detailed record."""
        return self.detail.error_codes if self.detail else {}


def heard(state: BatteryState) -> bool:
    """Whether the battery has sent anything since Home Assistant started."""
    return state.last_seen is not None


__all__ = [
    "CLOCK_ISSUE_REFRESH",
    "ENERGY_TOTALS",
    "BatteryClock",
    "BatteryState",
    "ClockVerdict",
    "Part",
    "PartValue",
    "energy_key",
    "from_record",
    "heard",
    "part_of",
]
