"""Lifetime energy totals: never down, never faster than the system can produce.

The Energy dashboard differences these totals, so one forged or garbled record would
put a spike into the owner's statistics for good. A total that drops is ignored; one
that rises faster than the system's rating allows is held back until further records
carry on from it, and a record that carries on from the accepted total instead
discards it. The rating comes from the battery's report, never loosened past a
default, so a forged report cannot widen the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ..const import LOGGER
from ..protocol import DetailedRecord, SystemReport, mask_serial

# Lifetime totals as (key, attribute of DetailedRecord).
ENERGY_TOTALS: Final = (
    ("pv", "epv_total"),
    ("grid_import", "e_input"),
    ("grid_export", "e_output"),
    ("battery_charge", "e_charge"),
    ("battery_discharge", "e_discharge"),
    ("battery_grid_charge", "e_grid_charge"),
)
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


def energy_key(total: str) -> str:
    """Key of the energy sensor of lifetime total ``total`` (its unique id's end)."""
    return f"{total}_energy"


def max_power_kw(report: SystemReport | None) -> float:
    """The fastest any lifetime total can rise, in kW, by the battery's report."""
    rated = (
        max(report.pv_capacity or 0.0, report.inverter_power or 0.0) if report else 0.0
    )
    if rated <= 0:
        return DEFAULT_MAX_POWER_KW
    return min(rated * POWER_MARGIN, DEFAULT_MAX_POWER_KW)


@dataclass(slots=True)
class _Held:
    """A lifetime total that rose implausibly fast, waiting for confirmation."""

    value: float
    at: datetime
    confirmations: int = 0


@dataclass
class LifetimeTotals:
    """The accepted totals of one battery, and when each was accepted (host, UTC).

    ``on_held(key, value, accepted)`` is told of each total held back (the battery
    counts and warns).
    """

    serial: str
    on_held: Callable[[str, float, float], None]
    energy: dict[str, float] = field(default_factory=dict)
    energy_at: dict[str, datetime] = field(default_factory=dict)
    _held: dict[str, _Held] = field(default_factory=dict, repr=False)

    def offer(self, record: DetailedRecord, at: datetime, limit_kw: float) -> bool:
        """Offer every total a record carries; False when any was held back."""
        credible = True
        for key, attribute in ENERGY_TOTALS:
            value: float | None = getattr(record, attribute)
            if value is not None and not self._offer(key, value, at, limit_kw):
                credible = False
        return credible

    def _offer(self, key: str, value: float, at: datetime, limit_kw: float) -> bool:
        """Accept, ignore or hold back one total; False when it is held back."""
        accepted = self.energy.get(key)
        if accepted is None or _plausible(
            value, accepted, self.energy_at.get(key), at, limit_kw
        ):
            self._accept(key, value, at)
            return True
        if value < accepted:
            return True  # a drop is never shown: nothing to hold
        held = self._held.get(key)
        if held is None or not _plausible(value, held.value, held.at, at, limit_kw):
            self._held[key] = _Held(value, at)
            self.on_held(key, value, accepted)
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

    def _accept(self, key: str, value: float, at: datetime) -> None:
        self.energy[key] = value
        previous = self.energy_at.get(key)
        self.energy_at[key] = at if previous is None else max(previous, at)
        self._held.pop(key, None)


def _plausible(
    value: float,
    base: float,
    base_at: datetime | None,
    at: datetime,
    limit_kw: float,
) -> bool:
    """Whether a total can follow ``base`` (accepted at ``base_at``) by ``at``.

    With no time for ``base`` (a store from before times were kept) nothing bounds the
    rise.
    """
    if value < base:
        return False
    if base_at is None:
        return True
    hours = max((at - base_at).total_seconds(), 0.0) / 3600
    return value - base <= limit_kw * hours + ENERGY_SLACK_KWH
