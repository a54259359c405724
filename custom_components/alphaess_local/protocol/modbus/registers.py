"""The inverter's Modbus holding registers, turned into the cloud's records (sans-IO).

A poll reads a few blocks of registers (:data:`LIVE_BLOCKS`, at most four requests);
:class:`RegisterMap` turns the words into the same :class:`RealtimeRecord`,
:class:`DetailedRecord` and :class:`SystemReport` a battery sends to the cloud, with the
cloud's units and signs, so that Home Assistant feeds the same entities from either.

Every word comes from a peer: sentinels (``0xFFFF``, ``0x7FFF``, ``0xFFFFFFFF``) and
values outside physical bounds become ``None``. Where the public register maps disagree
on a scale (docs/modbus.md), the map decides by plausibility against other registers,
over several polls, and keeps and logs the decision once; until then the field is
``None`` rather than a guess.

The ``encode_*`` functions are the inverse, for the simulated inverter and the tests.
Nothing here does I/O or imports pymodbus.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
import logging
import math
from typing import Final, Protocol

from ..codec.escape import is_serial
from ..codec.records import DetailedRecord, RealtimeRecord, SystemReport
from ..codec.settings import (
    CHARGE_STOP_SOC,
    CHARGE_WINDOW_ENDS,
    DISCHARGE_CONTROL,
    DISCHARGE_CUTOFF_SOC,
    DISCHARGE_WINDOW_ENDS,
    GRID_CHARGING,
    SETTINGS as ALL_SETTINGS,
    SettingValue,
    minute_key,
)
from ..codec.values import PackedCell, Value

_LOGGER = logging.getLogger(__name__)

type Words = Mapping[int, int]
"""Register address → 16-bit word (0..65535), from any blocks read."""

MAX_BLOCK: Final = 125  # registers in one function-3 read (the Modbus limit)


@dataclass(frozen=True, slots=True)
class Block:
    """One function-3 read: ``count`` holding registers from ``start``."""

    start: int
    count: int
    name: str

    @property
    def addresses(self) -> range:
        """The registers the read returns."""
        return range(self.start, self.start + self.count)


# Grid meter: energy totals 0x0010.., voltages, frequency, phase powers ..0x0022.
GRID: Final = Block(0x0010, 35, "grid")
# The AC-coupled PV meter: energy 0x0090, power 0x00A1 (house load needs it).
PV_METER: Final = Block(0x0090, 19, "pv_meter")
# Battery: voltage 0x0100 .. BMS power limits 0x012D.
BATTERY: Final = Block(0x0100, 46, "battery")
# Inverter: phase powers 0x0406.., PV strings, temperature, faults .. work mode 0x0440.
INVERTER: Final = Block(0x0400, 65, "inverter")
# Inverter firmware 0x0640, 0x0645 and serial 0x064A.
IDENTITY: Final = Block(0x0640, 20, "identity")
# Clock 0x0740..0x0742, system serial 0x0743, EMS version 0x074B..0x074D.
CLOCK: Final = Block(0x0740, 14, "clock")
# Battery make-up: modules 0x0118, capacity 0x0119, SOH 0x011B.
BATTERY_INFO: Final = Block(0x0118, 4, "battery_info")
# Feed-in limit 0x0800, installed PV capacity 0x0801.
SYSTEM: Final = Block(0x0800, 3, "system")
# Time-period control 0x084F .. the last charge-window minute 0x0861.
SETTINGS: Final = Block(0x084F, 19, "settings")

LIVE_BLOCKS: Final[tuple[Block, ...]] = (GRID, PV_METER, BATTERY, INVERTER)
IDENTITY_BLOCKS: Final[tuple[Block, ...]] = (CLOCK, IDENTITY, BATTERY_INFO)
SETTINGS_BLOCKS: Final[tuple[Block, ...]] = (SYSTEM, SETTINGS)

# ---------------------------------------------------------------------------------
# Register addresses (docs/modbus.md has the table and its sources).

GRID_EXPORT_TOTAL: Final = 0x0010  # u32, 0.01 kWh
GRID_IMPORT_TOTAL: Final = 0x0012  # u32, 0.01 kWh
GRID_VOLTAGE: Final = (0x0014, 0x0015, 0x0016)  # u16, 1 V or 0.1 V (disputed)
GRID_FREQUENCY: Final = 0x001A  # u16, 0.01 Hz
GRID_POWER_PHASES: Final = (0x001B, 0x001D, 0x001F)  # s32, W, + = import
GRID_POWER: Final = 0x0021  # s32, W
PV_METER_TOTAL: Final = 0x0090  # u32, 0.01 kWh
PV_METER_POWER: Final = 0x00A1  # s32, W
BATTERY_VOLTAGE: Final = 0x0100  # u16, 0.1 V
BATTERY_CURRENT: Final = 0x0101  # s16, 0.1 A
BATTERY_SOC: Final = 0x0102  # u16, 0.1 %
CELL_VOLTAGE_LOW: Final = 0x0105  # pack, cell, value (0.001 V or 0.01 V: disputed)
CELL_VOLTAGE_HIGH: Final = 0x0108
CELL_TEMPERATURE_LOW: Final = 0x010B  # pack, cell, s16 value 0.1 °C
CELL_TEMPERATURE_HIGH: Final = 0x010E
BATTERY_MODULES: Final = 0x0118  # u16
BATTERY_CAPACITY: Final = 0x0119  # u16, 0.1 kWh
BATTERY_SOH: Final = 0x011B  # u16, 0.1 %
BATTERY_WARNING: Final = 0x011C  # u32 bits
BATTERY_FAULT: Final = 0x011E  # u32 bits
CHARGE_TOTAL: Final = 0x0120  # u32, 0.1 kWh
DISCHARGE_TOTAL: Final = 0x0122  # u32, 0.1 kWh
GRID_CHARGE_TOTAL: Final = 0x0124  # u32, 0.1 kWh
BATTERY_POWER: Final = 0x0126  # s16, W, + = discharging
BMS_CHARGE_LIMIT: Final = 0x012C  # u16, W
BMS_DISCHARGE_LIMIT: Final = 0x012D  # u16, W
INVERTER_POWER_PHASES: Final = (0x0406, 0x0408, 0x040A)  # s32, W
INVERTER_POWER: Final = 0x040C  # s32, W
INVERTER_FREQUENCY: Final = 0x041C  # u16, 0.01 Hz
PV_STRINGS: Final = tuple(0x041D + 4 * n for n in range(6))  # V 0.1, A 0.1, u32 W
INVERTER_TEMPERATURE: Final = 0x0435  # s16, 0.1 °C or 0.01 °C (disputed)
INVERTER_WARNING: Final = 0x0436  # u32 bits
INVERTER_FAULT: Final = 0x043A  # u32 bits
PV_TOTAL: Final = 0x043E  # u32, 0.1 kWh or 0.01 kWh (disputed)
INVERTER_WORK_MODE: Final = 0x0440  # u16 enum
INVERTER_VERSION: Final = 0x0640  # 5 registers ASCII (ARM, per ioB)
INVERTER_DSP_VERSION: Final = 0x0645  # 5 registers ASCII
INVERTER_SERIAL: Final = 0x064A  # 10 registers ASCII
CLOCK_START: Final = 0x0740  # YY MM, DD HH, mm ss
SYSTEM_SERIAL: Final = 0x0743  # 8 registers ASCII: the serial
EMS_VERSION: Final = 0x074B  # 3 x u16
FEED_IN_LIMIT: Final = 0x0800  # u16, % of the inverter's power
PV_CAPACITY: Final = 0x0801  # u32, W
TIME_PERIOD_CONTROL: Final = 0x084F  # bit 0 grid charging, bit 1 timed discharge
DISCHARGE_CUTOFF: Final = 0x0850  # whole %
DISCHARGE_HOURS: Final = 0x0851  # start 1, end 1, start 2, end 2
CHARGE_STOP: Final = 0x0855  # whole %
CHARGE_HOURS: Final = 0x0856  # start 1, end 1, start 2, end 2
DISCHARGE_MINUTES: Final = 0x085A
CHARGE_MINUTES: Final = 0x085E

_GRID_CHARGING_BIT: Final = 1
_DISCHARGE_CONTROL_BIT: Final = 2


# ---------------------------------------------------------------------------------
# Scales


@dataclass(frozen=True, slots=True)
class Scales:
    """The scales the sources disagree on, as one inverter writes them.

    :data:`DOCUMENTED` is what ioB and Posh read, :data:`MEASURED` what A2M measured on
    its unit. The map decides between them per field (:class:`RegisterMap`); the
    encoder takes either so the tests can serve both.
    """

    grid_voltage: float = 1.0  # V per count
    cell_voltage: float = 0.001  # V per count
    inverter_temperature: float = 0.1  # °C per count
    pv_energy: float = 0.1  # kWh per count
    # Not disputed, but not seen checked either: which way the current counts.
    battery_current: float = 0.1  # A per count, + = discharging (as the cloud's BatC)


DOCUMENTED: Final = Scales()
MEASURED: Final = Scales(
    grid_voltage=0.1, cell_voltage=0.01, inverter_temperature=0.01, pv_energy=0.01
)

# The candidates of each disputed field, in the order they are named in the docs.
CANDIDATES: Final[Mapping[str, tuple[float, float]]] = {
    "grid_voltage": (1.0, 0.1),
    "cell_voltage": (0.001, 0.01),
    "inverter_temperature": (0.1, 0.01),
    "pv_energy": (0.1, 0.01),
    "battery_current": (0.1, -0.1),
}
_UNITS: Final = {
    "grid_voltage": "V",
    "cell_voltage": "V",
    "inverter_temperature": "°C",
    "pv_energy": "kWh",
    "battery_current": "A",
}


# ---------------------------------------------------------------------------------
# Words → numbers


def _u16(words: Words, address: int) -> int | None:
    word = words.get(address)
    if word is None or not 0 <= word <= 0xFFFF:
        return None
    return word


def u16(words: Words, address: int) -> int | None:
    """An unsigned register; ``None`` if missing or the ``0xFFFF`` sentinel."""
    word = _u16(words, address)
    return None if word is None or word == 0xFFFF else word


def s16(words: Words, address: int) -> int | None:
    """A signed register; ``None`` if missing or a sentinel (0x7FFF, 0x8000).

    ``0xFFFF`` is -1 here, a real reading: a meter held at zero export reads -1 W
    often, and blanking it would blank the house load with it. A register filled with
    ones therefore reads one count below zero, which is harmless.
    """
    word = _u16(words, address)
    if word is None or word in (0x7FFF, 0x8000):
        return None
    return word - 0x10000 if word & 0x8000 else word


def _pair(words: Words, address: int) -> int | None:
    high, low = _u16(words, address), _u16(words, address + 1)
    if high is None or low is None:
        return None
    return high << 16 | low


def u32(words: Words, address: int) -> int | None:
    """Two registers, high word first; ``None`` if missing or ``0xFFFFFFFF``."""
    value = _pair(words, address)
    return None if value is None or value == 0xFFFFFFFF else value


def s32(words: Words, address: int) -> int | None:
    """Two registers, high word first, signed; 0x7FFFFFFF, 0x80000000 give ``None``.

    ``0xFFFFFFFF`` is -1, as for :func:`s16`.
    """
    value = _pair(words, address)
    if value is None or value in (0x7FFFFFFF, 0x80000000):
        return None
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


def ascii_text(words: Words, address: int, count: int) -> str | None:
    """``count`` registers of ASCII, two characters each, NUL or space padded.

    ``None`` if a register is missing or a character is not printable ASCII.
    """
    chars: list[str] = []
    for offset in range(count):
        word = _u16(words, address + offset)
        if word is None:
            return None
        chars.extend((chr(word >> 8), chr(word & 0xFF)))
    text = "".join(chars).rstrip("\x00 ")
    if not text or any(not " " <= c <= "~" for c in text):
        return None
    return text


def read_serial(words: Words) -> str | None:
    """The system (EMS) serial at 0x0743, the battery's cloud ``SN``; else ``None``."""
    text = ascii_text(words, SYSTEM_SERIAL, 8)
    return text if text is not None and is_serial(text) else None


def read_clock(words: Words) -> datetime | None:
    """The inverter's clock (0x0740..0x0742: YY MM, DD HH, mm ss), naive local time."""
    parts = [_u16(words, CLOCK_START + n) for n in range(3)]
    if any(p is None for p in parts):
        return None
    yymm, ddhh, mmss = (p or 0 for p in parts)
    try:
        return datetime(  # noqa: DTZ001 - local time, as the cloud's records
            2000 + (yymm >> 8),
            yymm & 0xFF,
            ddhh >> 8,
            ddhh & 0xFF,
            mmss >> 8,
            mmss & 0xFF,
        )
    except ValueError:
        return None


def _bounded(value: float | None, low: float, high: float) -> float | None:
    if value is None or not low <= value <= high:
        return None
    return value


def _scaled(raw: int | None, scale: float, low: float, high: float) -> float | None:
    if raw is None:
        return None
    return _bounded(_tidy(raw * scale), low, high)


def _tidy(value: float) -> float:
    """``value`` without the binary float noise of a scale (239.8, not 239.80000000000001)."""
    return round(value, 6)


# Physical bounds of a home system, generous: a value outside is nonsense.
MAX_POWER: Final = 100_000.0  # W, any one flow
MAX_TOTAL: Final = 10_000_000.0  # kWh, any lifetime total
MAX_PACK_VOLTAGE: Final = 1000.0  # V
MAX_BATTERY_CURRENT: Final = 500.0  # A
MAX_PV_VOLTAGE: Final = 1000.0  # V
MAX_PV_CURRENT: Final = 50.0  # A
MAINS: Final = (85.0, 280.0)  # V, a live phase of 120/230 V mains
CELL: Final = (1.5, 4.5)  # V, a lithium cell
TEMPERATURE: Final = (-40.0, 100.0)  # °C
FREQUENCY: Final = (40.0, 70.0)  # Hz


def _power(raw: int | None) -> float | None:
    return _scaled(raw, 1.0, -MAX_POWER, MAX_POWER)


def _total(raw: int | None, scale: float) -> float | None:
    return _scaled(raw, scale, 0.0, MAX_TOTAL)


# ---------------------------------------------------------------------------------
# The plausibility decisions

# Polls whose evidence must agree before a scale is decided from single polls (the
# other candidate may have won at most a quarter as many); the PV energy decision
# integrates PV power over polls instead.
DECIDE_AFTER: Final = 3
# PV energy: decide once the PV strings produced this much since the first poll seen.
PV_EVIDENCE_KWH: Final = 0.2
# ... and only across polls no further apart than this (a gap restarts the count).
PV_MAX_GAP_SECONDS: Final = 600.0
_PV_TOLERANCE: Final = 0.35
PV_GIVE_UP_KWH: Final = 5.0
# Battery current: only a battery power this far from zero tells its sign.
MIN_POWER_EVIDENCE: Final = 100.0


@dataclass(slots=True)
class _PvIntegral:
    """PV energy integrated from the string powers since ``start_raw`` was read."""

    start_raw: int
    last_at: datetime
    last_power: float
    last_ac: float
    dc_kwh: float = 0.0
    ac_kwh: float = 0.0


class RegisterMap:
    """Turns register words into records; holds the scale decisions across polls.

    One map per inverter: a decision is about one unit's firmware. Decisions are kept
    for the map's life, logged once each (without the serial) and shown by
    :attr:`decisions` for diagnostics.
    """

    def __init__(self, decided: Mapping[str, float] | None = None) -> None:
        """Start from scales decided before (:attr:`decided`, kept by the caller).

        Without them every disputed field reads ``None`` until it is decided again
        (PV energy needs daylight). A remembered scale that is not a candidate is
        ignored.
        """
        self._scales: dict[str, float] = {}
        self._decisions: dict[str, str] = {}
        self._votes: dict[str, dict[float, int]] = {}
        self._pv: _PvIntegral | None = None
        for name, scale in (decided or {}).items():
            if scale in CANDIDATES.get(name, ()):
                self._decide(name, scale, "decided before")

    @property
    def decided(self) -> Mapping[str, float]:
        """The decided scales (name → units per count), to hand a later map."""
        return dict(self._scales)

    @property
    def decisions(self) -> Mapping[str, str]:
        """Each decided scale in words, with the evidence, for diagnostics."""
        return dict(self._decisions)

    def scale(self, name: str) -> float | None:
        """The decided scale of a disputed field, ``None`` while undecided."""
        return self._scales.get(name)

    # -- deciding -----------------------------------------------------------------

    def _decide(self, name: str, scale: float, evidence: str) -> None:
        if name in self._scales:
            return
        self._scales[name] = scale
        text = f"{scale:g} {_UNITS[name]} ({evidence})"
        self._decisions[name] = text
        _LOGGER.info("Modbus register scale decided: %s = %s", name, text)

    def _vote(self, name: str, plausible: list[float], evidence: str) -> None:
        """One poll's evidence: the candidates that fit; only a single one counts."""
        if name in self._scales or len(plausible) != 1:
            return
        votes = self._votes.setdefault(name, {})
        chosen = plausible[0]
        votes[chosen] = votes.get(chosen, 0) + 1
        others = sum(count for scale, count in votes.items() if scale != chosen)
        if votes[chosen] >= DECIDE_AFTER and others * 4 <= votes[chosen]:
            polls = votes[chosen]
            self._decide(name, chosen, f"{evidence}; {polls} polls agree")

    def _grid_voltage_evidence(self, words: Words) -> None:
        low, high = MAINS
        for phase, address in zip(("L1", "L2", "L3"), GRID_VOLTAGE, strict=True):
            raw = u16(words, address)
            if not raw:
                continue
            fits = [s for s in CANDIDATES["grid_voltage"] if low <= raw * s <= high]
            if len(fits) == 1:
                other = next(s for s in CANDIDATES["grid_voltage"] if s != fits[0])
                self._vote(
                    "grid_voltage",
                    fits,
                    f"{phase} {_tidy(raw * fits[0]):g} V plausible; "
                    f"{other:g} V would give {_tidy(raw * other):g} V",
                )
                return

    def _cell_voltage_evidence(self, words: Words, pack: float | None) -> None:
        raws = [
            u16(words, CELL_VOLTAGE_LOW + 2),
            u16(words, CELL_VOLTAGE_HIGH + 2),
        ]
        present = [r for r in raws if r]
        if not present or pack is None or pack <= 0:
            return
        low, high = CELL
        fits = [
            s
            for s in CANDIDATES["cell_voltage"]
            if all(low <= r * s <= high and r * s <= pack for r in present)
        ]
        if len(fits) == 1:
            cell = _tidy(present[0] * fits[0])
            self._vote(
                "cell_voltage",
                fits,
                f"cell {cell:g} V: {pack / cell:.1f} cells in series "
                f"for a pack of {pack:g} V",
            )

    def _temperature_evidence(self, words: Words, cells: list[float]) -> None:
        raw = s16(words, INVERTER_TEMPERATURE)
        if not raw or not cells:
            return
        # An inverter runs between a little below its battery's cells (cool air) and
        # well above them (its heat sink); the cells' sensors are not disputed.
        low, high = min(cells) - 15.0, max(cells) + 60.0
        fits = [
            s
            for s in CANDIDATES["inverter_temperature"]
            if low <= raw * s <= high and TEMPERATURE[0] <= raw * s <= TEMPERATURE[1]
        ]
        if len(fits) == 1:
            value = _tidy(raw * fits[0])
            self._vote(
                "inverter_temperature",
                fits,
                f"{value:g} °C beside cells at {min(cells):g}..{max(cells):g} °C",
            )

    def _battery_current_evidence(
        self, words: Words, pack: float | None, power: float | None
    ) -> None:
        """Pack voltage times current must give the battery power, sign included."""
        raw = s16(words, BATTERY_CURRENT)
        if not raw or not pack or power is None or abs(power) < MIN_POWER_EVIDENCE:
            return
        fits = [
            s
            for s in CANDIDATES["battery_current"]
            if 0.5 <= pack * raw * s / power <= 2.0
        ]
        if len(fits) == 1:
            self._vote(
                "battery_current",
                fits,
                f"{pack:g} V times {_tidy(raw * fits[0]):g} A beside a battery power "
                f"of {power:g} W (+ = discharging)",
            )

    def _pv_energy_evidence(
        self, raw: int | None, power: float | None, ac: float | None, at: datetime
    ) -> None:
        """Compare how far the PV total moved with the PV power integrated over time."""
        if "pv_energy" in self._scales or raw is None or power is None:
            return
        ac_power = max(ac or 0.0, 0.0)
        pv = self._pv
        if pv is not None:
            try:
                seconds = (at - pv.last_at).total_seconds()
            except TypeError:  # a caller that mixed naive and aware times
                seconds = 0.0
            if raw < pv.start_raw or not 0 < seconds <= PV_MAX_GAP_SECONDS:
                pv = None
            else:
                hours = seconds / 3600.0
                pv.dc_kwh += (pv.last_power + power) / 2 * hours / 1000
                pv.ac_kwh += (pv.last_ac + ac_power) / 2 * hours / 1000
                pv.last_at, pv.last_power, pv.last_ac = at, power, ac_power
        if pv is None:
            self._pv = _PvIntegral(raw, at, power, ac_power)
            return
        if pv.dc_kwh < PV_EVIDENCE_KWH:
            return
        counts = raw - pv.start_raw
        fits = [
            s
            for s in CANDIDATES["pv_energy"]
            if pv.dc_kwh * (1 - _PV_TOLERANCE) - s
            <= counts * s
            <= (pv.dc_kwh + pv.ac_kwh) * (1 + _PV_TOLERANCE) + s
        ]
        if len(fits) == 1:
            self._decide(
                "pv_energy",
                fits[0],
                f"total rose {_tidy(counts * fits[0]):g} kWh while the PV strings "
                f"made {pv.dc_kwh:.2f} kWh",
            )
        elif pv.dc_kwh > PV_GIVE_UP_KWH:
            # Neither fits (a total that lags by minutes fits as the energy grows):
            # something else moves this total; start counting afresh.
            self._pv = None

    # -- decoding -----------------------------------------------------------------

    def _disputed(
        self, name: str, raw: int | None, low: float, high: float
    ) -> float | None:
        if raw is None:
            return None
        if raw == 0:
            return 0.0  # zero under any scale
        scale = self._scales.get(name)
        return None if scale is None else _scaled(raw, scale, low, high)

    def live(
        self, words: Words, *, serial: str, at: datetime
    ) -> tuple[RealtimeRecord, DetailedRecord]:
        """One live poll's words as the cloud's realtime and detailed records.

        ``at`` is the records' time, as the caller knows it (the cloud's records carry
        the battery's local time; the reader passes what it trusts).
        """
        bat_v = _scaled(u16(words, BATTERY_VOLTAGE), 0.1, 0.0, MAX_PACK_VOLTAGE)
        cells = [
            t
            for t in (
                _scaled(s16(words, CELL_TEMPERATURE_LOW + 2), 0.1, *TEMPERATURE),
                _scaled(s16(words, CELL_TEMPERATURE_HIGH + 2), 0.1, *TEMPERATURE),
            )
            if t is not None
        ]
        strings = [self._string(words, address) for address in PV_STRINGS]
        ppv1, ppv2 = strings[0][2], strings[1][2]
        pmeter_dc = _power(s32(words, PV_METER_POWER))
        string_powers = [power for _, _, power in strings if power is not None]
        pv_power = sum(string_powers) if ppv1 is not None else None
        pbat = _power(s16(words, BATTERY_POWER))
        self._grid_voltage_evidence(words)
        self._cell_voltage_evidence(words, bat_v)
        self._temperature_evidence(words, cells)
        self._battery_current_evidence(words, bat_v, pbat)
        self._pv_energy_evidence(u32(words, PV_TOTAL), pv_power, pmeter_dc, at)

        preal = _phases(words, INVERTER_POWER_PHASES, INVERTER_POWER)
        pmeter = _phases(words, GRID_POWER_PHASES, GRID_POWER)
        # Strings 3-6 (some models) have no cloud field: kept visible, as the cloud
        # records keep keys no field reads.
        extra: dict[str, Value] = {}
        for number, (voltage, _, power) in enumerate(strings[2:], start=3):
            if power:
                extra[f"Ppv{number}"] = power
                extra[f"Upv{number}"] = voltage
        common = {
            "serial": serial,
            "time": at,
            "ppv1": ppv1,
            "ppv2": ppv2,
            "preal_l1": preal[0],
            "preal_l2": preal[1],
            "preal_l3": preal[2],
            "pmeter_l1": pmeter[0],
            "pmeter_l2": pmeter[1],
            "pmeter_l3": pmeter[2],
            "pmeter_dc": pmeter_dc,
            "pbat": pbat,
            "soc": _scaled(u16(words, BATTERY_SOC), 0.1, 0.0, 100.0),
            "extra": extra,
        }
        realtime = RealtimeRecord(**common)  # type: ignore[arg-type]
        voltages = [
            self._disputed("grid_voltage", u16(words, a), 0.0, MAINS[1])
            for a in GRID_VOLTAGE
        ]
        frequency = _scaled(u16(words, INVERTER_FREQUENCY), 0.01, *FREQUENCY)
        if frequency is None:
            frequency = _scaled(u16(words, GRID_FREQUENCY), 0.01, *FREQUENCY)
        detailed = DetailedRecord(
            **common,  # type: ignore[arg-type]
            upv1=strings[0][0],
            upv2=strings[1][0],
            ua=voltages[0],
            ub=voltages[1],
            uc=voltages[2],
            fac=frequency,
            tinv=self._disputed(
                "inverter_temperature", s16(words, INVERTER_TEMPERATURE), *TEMPERATURE
            ),
            inv_work_mode=u16(words, INVERTER_WORK_MODE),
            epv_total=self._disputed("pv_energy", u32(words, PV_TOTAL), 0.0, MAX_TOTAL),
            e_input=_total(u32(words, GRID_IMPORT_TOTAL), 0.01),
            e_output=_total(u32(words, GRID_EXPORT_TOTAL), 0.01),
            e_charge=_total(u32(words, CHARGE_TOTAL), 0.1),
            e_discharge=_total(u32(words, DISCHARGE_TOTAL), 0.1),
            e_grid_charge=_total(u32(words, GRID_CHARGE_TOTAL), 0.1),
            bat_v=bat_v,
            bat_c=self._disputed(
                "battery_current",
                s16(words, BATTERY_CURRENT),
                -MAX_BATTERY_CURRENT,
                MAX_BATTERY_CURRENT,
            ),
            pcharge=_scaled(u16(words, BMS_CHARGE_LIMIT), 1.0, 0.0, MAX_POWER),
            pdischarge=_scaled(u16(words, BMS_DISCHARGE_LIMIT), 1.0, 0.0, MAX_POWER),
            bms_num=_bounded_int(u16(words, BATTERY_MODULES), 0, 32),
            vcell_low=self._cell_voltage(words, CELL_VOLTAGE_LOW),
            vcell_high=self._cell_voltage(words, CELL_VOLTAGE_HIGH),
            tcell_low=_cell_temperature(words, CELL_TEMPERATURE_LOW),
            tcell_high=_cell_temperature(words, CELL_TEMPERATURE_HIGH),
            err_inv=u32(words, INVERTER_FAULT),
            war_inv=u32(words, INVERTER_WARNING),
            err_bms=u32(words, BATTERY_FAULT),
        )
        return realtime, detailed

    @staticmethod
    def _string(
        words: Words, address: int
    ) -> tuple[float | None, float | None, float | None]:
        voltage = _scaled(u16(words, address), 0.1, 0.0, MAX_PV_VOLTAGE)
        current = _scaled(u16(words, address + 1), 0.1, 0.0, MAX_PV_CURRENT)
        power = _scaled(u32(words, address + 2), 1.0, 0.0, MAX_POWER)
        return voltage, current, power

    def _cell_voltage(self, words: Words, address: int) -> PackedCell | None:
        pack, index = u16(words, address), u16(words, address + 1)
        volts = self._disputed("cell_voltage", u16(words, address + 2), 0.0, CELL[1])
        if pack is None or index is None or volts is None or pack > 0xFF:
            return None
        if index > 0xFF:
            return None
        millivolts = round(volts * 1000)
        return PackedCell(
            pack, index, millivolts, pack << 24 | index << 16 | millivolts
        )

    def identity(self, words: Words, *, serial: str) -> SystemReport:
        """Identity (and settings, if their words are present) as a system report."""
        ems = [
            v for v in (u16(words, EMS_VERSION + n) for n in range(3)) if v is not None
        ]
        ems_version = "V{}.{:02d}.{:02d}".format(*ems) if len(ems) == 3 else None
        values = self.settings(words)
        capacity = _scaled(u16(words, BATTERY_CAPACITY), 0.1, 0.0, 1000.0)
        return SystemReport(
            serial=serial,
            battery_capacity=capacity,
            ems_version=ems_version,
            inverter_version=ascii_text(words, INVERTER_VERSION, 5),
            slave_version=ascii_text(words, INVERTER_DSP_VERSION, 5),
            export_limit=_scaled(u16(words, FEED_IN_LIMIT), 1.0, 0.0, 100.0),
            pv_capacity=_scaled(u32(words, PV_CAPACITY), 0.001, 0.0, 1000.0),
            inverter_serial=ascii_text(words, INVERTER_SERIAL, 10),
            grid_charge=_switch(values.get(GRID_CHARGING.key)),
            discharge_control=_switch(values.get(DISCHARGE_CONTROL.key)),
            charge_stop_soc=_number(values.get(CHARGE_STOP_SOC.key)),
            discharge_cutoff_soc=_number(values.get(DISCHARGE_CUTOFF_SOC.key)),
            # The setting entities read the cloud's keys (Setting.read(report.raw)),
            # a window end's minute under minute_key (Setting.read_time).
            raw={
                theirs: values[ours]
                for setting in ALL_SETTINGS
                for ours, theirs in (
                    (setting.key, setting.wire_key),
                    (minute_key(setting.key), minute_key(setting.wire_key)),
                )
                if ours in values
            },
        )

    def settings(self, words: Words) -> dict[str, SettingValue]:
        """The time-period control block, keyed like codec/settings.py's ``key``.

        Window ends are whole hours as on the cloud link; the minutes Modbus also holds
        come under ``<key>_minute`` (``charge_window_1_start_minute``). A register that
        is missing or out of range leaves its key out.
        """
        values: dict[str, SettingValue] = {}
        control = u16(words, TIME_PERIOD_CONTROL)
        if control is not None and control <= 3:
            values[GRID_CHARGING.key] = bool(control & _GRID_CHARGING_BIT)
            values[DISCHARGE_CONTROL.key] = bool(control & _DISCHARGE_CONTROL_BIT)
        for setting, address in (
            (DISCHARGE_CUTOFF_SOC, DISCHARGE_CUTOFF),
            (CHARGE_STOP_SOC, CHARGE_STOP),
        ):
            percent = _bounded_int(u16(words, address), 0, 100)
            if percent is not None:
                values[setting.key] = percent
        for ends, hours, minutes in (
            (CHARGE_WINDOW_ENDS, CHARGE_HOURS, CHARGE_MINUTES),
            (DISCHARGE_WINDOW_ENDS, DISCHARGE_HOURS, DISCHARGE_MINUTES),
        ):
            for setting in ends:
                offset = _window_offset(setting.key)
                hour = _bounded_int(u16(words, hours + offset), 0, 23)
                minute = _bounded_int(u16(words, minutes + offset), 0, 59)
                if hour is not None:
                    values[setting.key] = hour
                if minute is not None:
                    values[minute_key(setting.key)] = minute
        return values


def _phases(
    words: Words, phases: tuple[int, int, int], total: int
) -> list[float | None]:
    """Per-phase powers; the total on L1 if an inverter fills in no phase at all."""
    values = [_power(s32(words, address)) for address in phases]
    if all(value is None for value in values):
        return [_power(s32(words, total)), None, None]
    return values


def _bounded_int(raw: int | None, low: int, high: int) -> int | None:
    return raw if raw is not None and low <= raw <= high else None


def _switch(value: SettingValue | None) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(value: SettingValue | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    return float(value)


def _window_offset(key: str) -> int:
    """Registers run start 1, end 1, start 2, end 2: ``charge_window_2_end`` is 3."""
    number = 1 if "_window_1_" in key else 2
    return (number - 1) * 2 + (1 if key.endswith("_end") else 0)


def _cell_temperature(words: Words, address: int) -> PackedCell | None:
    """A cell temperature extreme as the cloud packs it: module, sensor, whole °C."""
    pack, index = u16(words, address), u16(words, address + 1)
    celsius = _scaled(s16(words, address + 2), 0.1, *TEMPERATURE)
    if pack is None or index is None or celsius is None or max(pack, index) > 0xFF:
        return None
    whole = round(celsius)
    return PackedCell(pack, index, whole, pack << 24 | index << 16 | (whole & 0xFF))


# ---------------------------------------------------------------------------------
# Settings writes


_WINDOW_REGISTERS: Final = {
    **{
        s.key: (
            CHARGE_HOURS + _window_offset(s.key),
            CHARGE_MINUTES + _window_offset(s.key),
        )
        for s in CHARGE_WINDOW_ENDS
    },
    **{
        s.key: (
            DISCHARGE_HOURS + _window_offset(s.key),
            DISCHARGE_MINUTES + _window_offset(s.key),
        )
        for s in DISCHARGE_WINDOW_ENDS
    },
}


def setting_writes(
    changes: Mapping[str, SettingValue], *, current: Words | None = None
) -> list[tuple[int, int]]:
    """The register writes (address, word) that make ``changes``, in address order.

    Keys are codec/settings.py's ``key`` plus ``<window end>_minute``. Grid charging and
    timed discharge share register 0x084F: changing one keeps the other as ``current``
    (the settings words last read) holds it; without it that raises ``ValueError``.
    Values out of range raise ``ValueError``: nothing is written half.
    """
    writes: dict[int, int] = {}
    switches = {GRID_CHARGING.key, DISCHARGE_CONTROL.key} & set(changes)
    if switches:
        word = u16(current or {}, TIME_PERIOD_CONTROL)
        if switches != {GRID_CHARGING.key, DISCHARGE_CONTROL.key} and (
            word is None or word > 3
        ):
            raise ValueError("time-period control unknown: read the settings first")
        word = word or 0
        for key, bit in (
            (GRID_CHARGING.key, _GRID_CHARGING_BIT),
            (DISCHARGE_CONTROL.key, _DISCHARGE_CONTROL_BIT),
        ):
            if key in changes:
                word = word | bit if _as_switch(key, changes[key]) else word & ~bit
        writes[TIME_PERIOD_CONTROL] = word
    for key, value in changes.items():
        if key in switches:
            continue
        if key == CHARGE_STOP_SOC.key:
            writes[CHARGE_STOP] = _as_int(key, value, 0, 100)
        elif key == DISCHARGE_CUTOFF_SOC.key:
            writes[DISCHARGE_CUTOFF] = _as_int(key, value, 0, 100)
        elif key in _WINDOW_REGISTERS:
            writes[_WINDOW_REGISTERS[key][0]] = _as_int(key, value, 0, 23)
        elif (
            key.endswith("_minute") and key.removesuffix("_minute") in _WINDOW_REGISTERS
        ):
            minute_register = _WINDOW_REGISTERS[key.removesuffix("_minute")][1]
            writes[minute_register] = _as_int(key, value, 0, 59)
        else:
            raise ValueError(f"{key} cannot be written over Modbus")
    return sorted(writes.items())


def _as_switch(key: str, value: SettingValue) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be on or off")  # noqa: TRY004 - as settings.py
    return value


def _as_int(key: str, value: SettingValue, low: int, high: int) -> int:
    if (
        isinstance(value, bool)
        or not math.isfinite(value)
        or value != int(value)
        or not low <= value <= high
    ):
        raise ValueError(f"{key} must be a whole number {low}-{high}")
    return int(value)


# ---------------------------------------------------------------------------------
# Encoding: numbers → words, for the simulated inverter and the tests


class LiveTotals(Protocol):
    """Lifetime energy in kWh (the simulator's ``Totals``)."""

    pv: float
    grid_import: float
    grid_export: float
    charge: float
    discharge: float
    grid_charge: float


class LiveSample(Protocol):
    """What the encoder needs of a moment (the simulator's ``Sample``)."""

    ppv1: float
    ppv2: float
    pbat: float
    grid: float
    soc: float

    @property
    def totals(self) -> LiveTotals:
        """Lifetime totals (read only here, so the simulator's own type fits)."""

    @property
    def inverter(self) -> float:
        """AC output of the hybrid inverter, W."""


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What a sample does not hold, as simulator/readings.py tells the cloud.

    Grid 239.8 V at 50.01 Hz, inverter at 38 °C, cells at 3.340..3.352 V and
    24..26 °C, PV strings at 256.2 V and 275.1 V: so both links say the same.
    """

    grid_voltage: float = 239.8
    frequency: float = 50.01
    inverter_temperature: float = 38.0
    pv_voltages: tuple[float, float] = (256.2, 275.1)
    cell_voltage_low: tuple[int, int, float] = (1, 4, 3.340)
    cell_voltage_high: tuple[int, int, float] = (1, 11, 3.352)
    cell_temperature_low: tuple[int, int, float] = (1, 6, 24.0)
    cell_temperature_high: tuple[int, int, float] = (1, 2, 26.0)
    modules: int = 1
    capacity_kwh: float = 10.1  # as encode_identity's, which covers the same registers
    soh: float = 100.0
    bms_limit: float = 5050.0
    work_mode: int = 3


SIMULATED: Final = Surroundings()


def battery_voltage(soc: float) -> float:
    """The simulated pack's voltage at ``soc`` (as simulator/readings.py says it)."""
    return 50.0 + soc / 50


def _put16(words: dict[int, int], address: int, value: float) -> None:
    words[address] = max(-0x8000, min(0x7FFF, round(value))) & 0xFFFF


def _putu16(words: dict[int, int], address: int, value: float) -> None:
    words[address] = max(0, min(0xFFFE, round(value)))


def _put32(words: dict[int, int], address: int, value: float) -> None:
    number = max(-0x7FFF_FFFE, min(0x7FFF_FFFE, round(value))) & 0xFFFF_FFFF
    words[address], words[address + 1] = number >> 16, number & 0xFFFF


def _putu32(words: dict[int, int], address: int, value: float) -> None:
    number = max(0, min(0xFFFF_FFFE, round(value)))
    words[address], words[address + 1] = number >> 16, number & 0xFFFF


def _put_ascii(words: dict[int, int], address: int, count: int, text: str) -> None:
    data = text.encode("ascii", "replace")[: count * 2].ljust(count * 2, b"\x00")
    for n in range(count):
        words[address + n] = data[2 * n] << 8 | data[2 * n + 1]


def encode_live(
    sample: LiveSample,
    totals: LiveTotals | None = None,
    *,
    scales: Scales = DOCUMENTED,
    surroundings: Surroundings = SIMULATED,
) -> dict[int, int]:
    """The words of :data:`LIVE_BLOCKS` for ``sample`` (every block's every register).

    ``totals`` defaults to the sample's own; ``scales`` picks the disputed scales an
    inverter writes, so tests can serve either and check the map decides right.
    """
    totals = sample.totals if totals is None else totals
    around = surroundings
    words = {a: 0 for block in LIVE_BLOCKS for a in block.addresses}
    _putu32(words, GRID_EXPORT_TOTAL, totals.grid_export / 0.01)
    _putu32(words, GRID_IMPORT_TOTAL, totals.grid_import / 0.01)
    _putu16(words, GRID_VOLTAGE[0], around.grid_voltage / scales.grid_voltage)
    _putu16(words, GRID_FREQUENCY, around.frequency / 0.01)
    _put32(words, GRID_POWER_PHASES[0], sample.grid)
    _put32(words, GRID_POWER, sample.grid)
    bat_v = battery_voltage(sample.soc)
    _putu16(words, BATTERY_VOLTAGE, bat_v / 0.1)
    _put16(words, BATTERY_CURRENT, sample.pbat / bat_v / scales.battery_current)
    _putu16(words, BATTERY_SOC, sample.soc / 0.1)
    for address, (pack, cell, volts) in (
        (CELL_VOLTAGE_LOW, around.cell_voltage_low),
        (CELL_VOLTAGE_HIGH, around.cell_voltage_high),
    ):
        words[address], words[address + 1] = pack, cell
        _putu16(words, address + 2, volts / scales.cell_voltage)
    for address, (pack, cell, celsius) in (
        (CELL_TEMPERATURE_LOW, around.cell_temperature_low),
        (CELL_TEMPERATURE_HIGH, around.cell_temperature_high),
    ):
        words[address], words[address + 1] = pack, cell
        _put16(words, address + 2, celsius / 0.1)
    words[BATTERY_MODULES] = around.modules
    _putu16(words, BATTERY_CAPACITY, around.capacity_kwh / 0.1)
    _putu16(words, BATTERY_SOH, around.soh / 0.1)
    _putu32(words, CHARGE_TOTAL, totals.charge / 0.1)
    _putu32(words, DISCHARGE_TOTAL, totals.discharge / 0.1)
    _putu32(words, GRID_CHARGE_TOTAL, totals.grid_charge / 0.1)
    _put16(words, BATTERY_POWER, sample.pbat)
    _putu16(words, BMS_CHARGE_LIMIT, around.bms_limit)
    _putu16(words, BMS_DISCHARGE_LIMIT, around.bms_limit)
    _put32(words, INVERTER_POWER_PHASES[0], sample.inverter)
    _put32(words, INVERTER_POWER, sample.inverter)
    _putu16(words, INVERTER_FREQUENCY, around.frequency / 0.01)
    for address, power, volts in zip(
        PV_STRINGS, (sample.ppv1, sample.ppv2), around.pv_voltages, strict=False
    ):
        if power:
            _putu16(words, address, volts / 0.1)
            _putu16(words, address + 1, power / volts / 0.1)
        _putu32(words, address + 2, power)
    _put16(
        words,
        INVERTER_TEMPERATURE,
        around.inverter_temperature / scales.inverter_temperature,
    )
    _putu32(words, PV_TOTAL, totals.pv / scales.pv_energy)
    words[INVERTER_WORK_MODE] = around.work_mode
    return words


def encode_clock(at: datetime) -> dict[int, int]:
    """The inverter clock's three registers for ``at`` (naive local time)."""
    return {
        CLOCK_START: (at.year % 100) << 8 | at.month,
        CLOCK_START + 1: at.day << 8 | at.hour,
        CLOCK_START + 2: at.minute << 8 | at.second,
    }


def encode_identity(
    serial: str,
    *,
    inverter_serial: str = "SIMINV0001",
    inverter_version: str = "V00.21",
    dsp_version: str = "V1.02",
    ems_version: tuple[int, int, int] = (1, 1, 5),
    capacity_kwh: float = 10.1,
    modules: int = 1,
    soh: float = 100.0,
    at: datetime | None = None,
) -> dict[int, int]:
    """The words of :data:`IDENTITY_BLOCKS` (the clock's too when ``at`` is given)."""
    words = {a: 0 for block in IDENTITY_BLOCKS for a in block.addresses}
    if at is not None:
        words.update(encode_clock(at))
    _put_ascii(words, SYSTEM_SERIAL, 8, serial)
    for n, part in enumerate(ems_version):
        words[EMS_VERSION + n] = part
    _put_ascii(words, INVERTER_VERSION, 5, inverter_version)
    _put_ascii(words, INVERTER_DSP_VERSION, 5, dsp_version)
    _put_ascii(words, INVERTER_SERIAL, 10, inverter_serial)
    words[BATTERY_MODULES] = modules
    _putu16(words, BATTERY_CAPACITY, capacity_kwh / 0.1)
    _putu16(words, BATTERY_SOH, soh / 0.1)
    return words


def encode_settings(
    values: Mapping[str, SettingValue],
    *,
    feed_in_limit: int = 100,
    pv_capacity_w: int = 4600,
) -> dict[int, int]:
    """The words of :data:`SETTINGS_BLOCKS` holding ``values`` (keys as settings()).

    Switches missing from ``values`` are off; other missing keys are 0.
    """
    words = {a: 0 for block in SETTINGS_BLOCKS for a in block.addresses}
    _putu16(words, FEED_IN_LIMIT, feed_in_limit)
    _putu32(words, PV_CAPACITY, pv_capacity_w)
    changes = dict(values)
    changes.setdefault(GRID_CHARGING.key, False)
    changes.setdefault(DISCHARGE_CONTROL.key, False)
    words.update(setting_writes(changes))
    return words
