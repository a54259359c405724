"""What Home Assistant knows about one battery, assembled from its messages.

Pure bookkeeping: the coordinator feeds it typed records from the protocol package and
entities read from it. The rules that keep the Energy dashboard honest live here:
a record older than the newest one never replaces it, and lifetime energy totals
never step backwards.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from .protocol import DetailedRecord, EventLogEntry, RealtimeRecord, SystemReport

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


@dataclass
class BatteryState:
    """Latest known state of one battery (keyed by serial in the coordinator)."""

    serial: str
    realtime: RealtimeRecord | None = None
    detail: DetailedRecord | None = None
    report: SystemReport | None = None
    last_seen: datetime | None = None
    clock_offset: timedelta | None = None
    connected: bool = False
    available: bool = True
    three_phase: bool = False
    energy: dict[str, float] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    newest_event: datetime | None = None
    # Battery clock of the newest record of any kind, and of the newest that carried
    # lifetime energy (detailed records and history rows): where a Resume starts.
    newest_record: datetime | None = None
    newest_energy_record: datetime | None = None
    clock_issue: bool = False
    events: deque[EventLogEntry] = field(
        default_factory=lambda: deque(maxlen=MAX_QUEUED_EVENTS)
    )

    # What survives a restart: the watermarks the backfill and the event log need, and
    # the totals that must never step backwards.
    _STORED_TIMES: ClassVar = ("newest_event", "newest_record", "newest_energy_record")

    def to_store(self) -> dict[str, Any]:
        """The part of the state kept in Home Assistant's Store."""
        stored: dict[str, Any] = {
            name: _iso(getattr(self, name)) for name in self._STORED_TIMES
        }
        stored["energy"] = dict(self.energy)
        return stored

    def restore(self, stored: Mapping[str, Any]) -> None:
        """Take back what :meth:`to_store` kept."""
        for name in self._STORED_TIMES:
            value = stored.get(name)
            setattr(self, name, datetime.fromisoformat(value) if value else None)
        self.energy.update(stored.get("energy", {}))

    def apply_realtime(self, record: RealtimeRecord) -> bool:
        """Keep ``record`` if it is the newest; return whether it was."""
        if not _newer(record.time, self.realtime.time if self.realtime else None):
            return False
        self.realtime = record
        self._note_phases(
            record.preal_l2, record.preal_l3, record.pmeter_l2, record.pmeter_l3
        )
        return True

    def apply_detail(self, record: DetailedRecord) -> bool:
        """Keep ``record`` if newest; raise energy totals that went up, never lower."""
        if not _newer(record.time, self.detail.time if self.detail else None):
            return False
        self.detail = record
        self._note_phases(record.ub, record.uc, record.pmeter_l2, record.pmeter_l3)
        self.apply_history_row(record)
        return True

    def apply_history_row(self, record: DetailedRecord) -> None:
        """Raise lifetime totals that went up (never lower) and the energy watermark."""
        for key, attribute in ENERGY_TOTALS:
            value = getattr(record, attribute)
            if value is not None and value >= self.energy.get(key, 0.0):
                self.energy[key] = value
        if record.time is not None and (
            self.newest_energy_record is None or record.time > self.newest_energy_record
        ):
            self.newest_energy_record = record.time

    def apply_events(self, entries: tuple[EventLogEntry, ...]) -> int:
        """Queue the entries newer than any seen before, oldest first; return count."""
        # The log is newest first; reversing keeps same-second entries in order.
        fresh = sorted(
            (
                e
                for e in reversed(entries)
                if self.newest_event is None or e.timestamp > self.newest_event
            ),
            key=lambda e: e.timestamp,
        )
        if fresh:
            self.events.extend(fresh)
            self.newest_event = fresh[-1].timestamp
        return len(fresh)

    def _note_phases(self, *values: float | None) -> None:
        if any(values):
            self.three_phase = True

    @property
    def errors(self) -> dict[str, int]:
        """Non-zero error and warning codes of the newest detailed record."""
        return self.detail.error_codes if self.detail else {}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def heard(state: BatteryState) -> bool:
    """Whether the battery has sent anything since Home Assistant started."""
    return state.last_seen is not None


def _newer(candidate: datetime | None, current: datetime | None) -> bool:
    return current is None or (candidate is not None and candidate > current)
