"""Which record an entity's value comes from, so a push of another record skips it.

A battery sends a realtime record every 10 s, a detailed record every 5 min and a
system report now and then. An entity that says which of them its value reads is not
even asked about a push of the others (the coordinator's fan-out reads this).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from . import BatteryState


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
