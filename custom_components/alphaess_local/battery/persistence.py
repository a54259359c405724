"""What of a battery survives a restart, and how an older store is read.

The watermarks the backfill and the event log need (battery clock), the lifetime
totals that must never step backwards and when each was accepted, a trusted clock
estimate, and how far each total's statistics are filed. Stores written by earlier
versions lack some of these; each is read as "not known yet".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from .clock import BatteryClock

if TYPE_CHECKING:
    from . import BatteryState

# Battery-clock watermarks kept across restarts (and moved when the clock is set).
STORED_TIMES: Final = (
    "newest_event",
    "newest_record",
    "newest_energy_record",
    "owed_from",
    "owed_until",
)


def to_store(state: BatteryState) -> dict[str, Any]:
    """The part of ``state`` kept in Home Assistant's Store."""
    stored: dict[str, Any] = {name: _iso(getattr(state, name)) for name in STORED_TIMES}
    stored["energy"] = dict(state.energy)
    stored["energy_at"] = {key: at.isoformat() for key, at in state.energy_at.items()}
    if state.clock.trusted and state.clock.offset is not None:
        stored["clock_offset"] = state.clock.offset.total_seconds()
    stored["filed_until"] = state.debt.to_store()
    return stored


def restore(state: BatteryState, stored: Mapping[str, Any]) -> None:
    """Take back into ``state`` what :func:`to_store` kept."""
    for name in STORED_TIMES:
        value = stored.get(name)
        setattr(state, name, datetime.fromisoformat(value) if value else None)
    if (offset := stored.get("clock_offset")) is not None:
        state.clock = BatteryClock(timedelta(seconds=offset), trusted=True)
    state.energy.update(stored.get("energy", {}))
    state.debt.restore(stored.get("filed_until", {}))
    times = stored.get("energy_at", {})
    for key in state.energy:
        if at := times.get(key):
            state.energy_at[key] = datetime.fromisoformat(at)
        elif state.newest_energy_record is not None:
            # Kept before times were: the totals date from the newest record that
            # carried energy, and a rise is judged from then.
            state.energy_at[key] = state.clock.host_time(state.newest_energy_record)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
