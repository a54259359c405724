"""A plausible, self-consistent home battery system, for the simulator.

Everything is a function of the battery's clock: PV follows a day curve with passing
clouds, the house load has a morning and an evening peak, the battery covers the
difference (self-consumption mode) within its power and SOC limits, and the grid covers
the rest. Powers are integrated in fixed steps into SOC and lifetime energy totals, so
the totals only grow and agree with the powers, which is what the no-gaps tests need
as ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
import random
from typing import Final

STEP: Final = timedelta(seconds=10)
_HOURS: Final = 3600.0


@dataclass(slots=True)
class Totals:
    """Lifetime energy in kWh, exact (the wire rounds them)."""

    pv: float = 431.6
    grid_import: float = 60.0
    grid_export: float = 128.4
    charge: float = 143.2
    discharge: float = 138.6
    grid_charge: float = 2.9


@dataclass(slots=True)
class Sample:
    """Instantaneous state: powers in W (signs as on the wire), SOC in %."""

    time: datetime
    ppv1: float
    ppv2: float
    load: float
    pbat: float
    grid: float
    soc: float
    totals: Totals

    @property
    def inverter(self) -> float:
        """AC output of the hybrid inverter (DC PV plus battery discharge)."""
        return self.ppv1 + self.ppv2 + self.pbat


@dataclass(slots=True)
class BatteryModel:
    """Deterministic for a given seed and start time."""

    start: datetime
    seed: int = 7
    pv_peak: float = 4600.0
    capacity_kwh: float = 10.1
    max_power: float = 5000.0
    min_soc: float = 10.0
    max_soc: float = 100.0
    soc: float = 50.0
    totals: Totals = field(default_factory=Totals)
    now: datetime = field(init=False)
    _rng: random.Random = field(init=False)
    _cloud: float = field(init=False, default=1.0)
    _minute_rows: list[Sample] = field(init=False, default_factory=list)
    _next_minute: datetime = field(init=False)
    _last: Sample = field(init=False)

    def __post_init__(self) -> None:
        """Place the clock at ``start``."""
        self.now = self.start
        self._rng = random.Random(self.seed)  # noqa: S311 - simulation, not crypto
        self._next_minute = self.start + timedelta(minutes=1)
        self._last = self._sample(self.start)

    def _pv(self, when: datetime) -> float:
        hour = when.hour + when.minute / 60 + when.second / 3600
        daylight = max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0))
        if daylight and self._rng.random() < 0.02:
            self._cloud = self._rng.uniform(0.3, 1.0)
        return self.pv_peak * daylight * self._cloud

    def _load(self, when: datetime) -> float:
        hour = when.hour + when.minute / 60
        morning = 900 * math.exp(-(((hour - 7.5) / 1.0) ** 2))
        evening = 1600 * math.exp(-(((hour - 19.0) / 1.5) ** 2))
        return 300 + morning + evening + self._rng.uniform(-40, 40)

    def _sample(self, when: datetime) -> Sample:
        pv = self._pv(when)
        load = self._load(when)
        surplus = pv - load
        usable = (self.soc - self.min_soc) / 100 * self.capacity_kwh * 1000
        room = (self.max_soc - self.soc) / 100 * self.capacity_kwh * 1000
        step_hours = STEP.total_seconds() / _HOURS
        if surplus >= 0:
            charge = min(surplus, self.max_power, max(0.0, room / step_hours))
            pbat = -charge
        else:
            pbat = min(-surplus, self.max_power, max(0.0, usable / step_hours))
        grid = load - (pv + pbat)
        split = 0.52
        return Sample(
            when, pv * split, pv * (1 - split), load, pbat, grid, self.soc, self.totals
        )

    def advance_to(self, when: datetime) -> None:
        """Integrate in fixed steps up to ``when``; record one row per minute."""
        step_hours = STEP.total_seconds() / _HOURS
        while self.now + STEP <= when:
            # The power reported at a step's start holds for the whole step.
            sample = self._last
            totals = self.totals
            energy = step_hours / 1000
            totals.pv += (sample.ppv1 + sample.ppv2) * energy
            totals.grid_import += max(sample.grid, 0.0) * energy
            totals.grid_export += max(-sample.grid, 0.0) * energy
            totals.charge += max(-sample.pbat, 0.0) * energy
            totals.discharge += max(sample.pbat, 0.0) * energy
            self.soc -= sample.pbat * step_hours / (self.capacity_kwh * 1000) * 100
            self.soc = min(self.max_soc, max(0.0, self.soc))
            self.now += STEP
            self._last = self._sample(self.now)
            if self.now >= self._next_minute:
                self._minute_rows.append(self.snapshot())
                self._next_minute += timedelta(minutes=1)

    def snapshot(self) -> Sample:
        """The state at the model's current time, with a copy of the totals."""
        last = self._last
        totals = Totals(**{k: getattr(self.totals, k) for k in Totals.__slots__})
        return Sample(
            self.now,
            last.ppv1,
            last.ppv2,
            last.load,
            last.pbat,
            last.grid,
            self.soc,
            totals,
        )

    @property
    def buffered_rows(self) -> tuple[Sample, ...]:
        """Every one-minute row still held, oldest first."""
        return tuple(self._minute_rows)

    def minute_rows(self, start: datetime, minutes: int) -> list[Sample]:
        """Buffered one-minute rows from ``start`` on, ``minutes`` long (Resume)."""
        end = start + timedelta(minutes=minutes)
        return [row for row in self._minute_rows if start <= row.time < end]

    def forget_before(self, when: datetime) -> None:
        """Drop rows older than ``when`` (the real battery keeps about a week)."""
        self._minute_rows = [row for row in self._minute_rows if row.time >= when]
