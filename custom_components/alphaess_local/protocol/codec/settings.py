"""Settings the battery accepts in a configuration answer, and how to write them.

The battery applies what a ``(1,2,3)`` answer holds (PROTOCOL.md, section 6), so an
answer is built from the battery's own latest system report with only the changed keys
replaced, each written in the form the battery used for it (``"false"`` stays a
lower-case string, ``"100.00"`` keeps two decimals, a JSON ``false`` stays a boolean).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import time
from enum import StrEnum
import math
from typing import Final

from .escape import printable
from .values import parse_bool, parse_float, parse_int

type SettingValue = bool | int | float
# What a caller may ask for: an hour setting also takes a time of day (whole hours).
type Requested = SettingValue | time


class SettingKind(StrEnum):
    """How the battery holds a setting, and so what it accepts."""

    SWITCH = "switch"  # on/off, written as the battery wrote it ("false", 0, False)
    PERCENT = "percent"  # a state-of-charge limit, 0-100
    HOUR = "hour"  # one end of a charge/discharge window: a whole hour, 0-23


_RANGES: Final = {SettingKind.PERCENT: (0, 100), SettingKind.HOUR: (0, 23)}
_PARSERS: Final[dict[SettingKind, Callable[[object], SettingValue | None]]] = {
    SettingKind.SWITCH: parse_bool,
    SettingKind.PERCENT: parse_float,
    SettingKind.HOUR: parse_int,
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting the battery takes in a configuration answer.

    ``key`` is our stable name for it (Home Assistant builds entity keys and
    translation keys from it); ``wire_key`` is the battery's.
    """

    key: str
    wire_key: str
    kind: SettingKind
    label: str
    window: int | None = None

    @property
    def minimum(self) -> int:
        """Lowest value the battery holds (0 for switches: off)."""
        return _RANGES.get(self.kind, (0, 1))[0]

    @property
    def maximum(self) -> int:
        """Highest value the battery holds (1 for switches: on)."""
        return _RANGES.get(self.kind, (0, 1))[1]

    def parse(self, raw: object) -> SettingValue | None:
        """The value as the battery wrote it, typed; ``None`` if unreadable."""
        value = _PARSERS[self.kind](raw)
        if self.kind is SettingKind.HOUR and value is not None:
            return value if self.minimum <= value <= self.maximum else None
        return value

    def read(self, report: Mapping[str, object]) -> SettingValue | None:
        """The setting in a system report (the payload as sent)."""
        return self.parse(report.get(self.wire_key))

    def check(self, value: Requested, *, minutes: bool = False) -> SettingValue:
        """``value`` as the battery will hold it, or :class:`SettingError`.

        ``minutes``: the channel holds a window end's minutes too (Modbus); the hour
        is returned here, the minute is :func:`normalize`'s to add.
        """
        if self.kind is SettingKind.SWITCH:
            if not isinstance(value, bool):
                raise SettingError(
                    "invalid_value", f"{self.wire_key} must be on or off"
                )
            return value
        if isinstance(value, time):
            if self.kind is not SettingKind.HOUR:
                raise SettingError("invalid_value", f"{self.wire_key} must be a number")
            if minutes:
                if value.second or value.microsecond:
                    raise SettingError(
                        "invalid_value", f"{self.wire_key} takes hours and minutes"
                    )
            elif value.minute or value.second or value.microsecond:
                raise SettingError(
                    "whole_hours_only", f"{self.wire_key} takes whole hours only"
                )
            return value.hour
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise SettingError("invalid_value", f"{self.wire_key} must be a number")
        if self.kind is SettingKind.HOUR:
            if value != int(value) or not self.minimum <= value <= self.maximum:
                raise SettingError(
                    "hour_out_of_range", f"{self.wire_key} must be a whole hour 0-23"
                )
            return int(value)
        if not self.minimum <= value <= self.maximum:
            raise SettingError("soc_out_of_range", f"{self.wire_key} must be 0-100 %")
        return value

    def read_time(self, report: Mapping[str, object]) -> time | None:
        """A window end in a report as a time of day, with its minute if it has one.

        Over the cloud link there is none (whole hours); over Modbus the minute comes
        under :func:`minute_key`.
        """
        hour = self.read(report)
        if hour is None:
            return None
        minute = parse_int(report.get(minute_key(self.wire_key)))
        return time(
            int(hour), minute if minute is not None and 0 <= minute <= 59 else 0
        )


# A window end's minute, where a channel holds one: the hour's key with this suffix.
MINUTE_SUFFIX: Final = "_minute"


def minute_key(key: str) -> str:
    """Where a report holds the minute of window end ``key`` (Modbus only)."""
    return f"{key}{MINUTE_SUFFIX}"


# The battery has two charge windows and two discharge windows.
WINDOWS: Final = (1, 2)


def _window_ends(kind: str, prefix: str) -> tuple[Setting, ...]:
    return tuple(
        Setting(
            f"{kind.lower()}_window_{number}_{edge}",
            f"{prefix}{code}{number}",
            SettingKind.HOUR,
            f"{kind} window {number} {edge}",
            window=number,
        )
        for number in WINDOWS
        for edge, code in (("start", "F"), ("end", "E"))
    )


GRID_CHARGING: Final = Setting(
    "grid_charging", "GridCharge", SettingKind.SWITCH, "Grid charging"
)
DISCHARGE_CONTROL: Final = Setting(
    "discharge_control", "CtrDis", SettingKind.SWITCH, "Timed discharge"
)
CHARGE_STOP_SOC: Final = Setting(
    "charge_stop_soc", "BatHighCap", SettingKind.PERCENT, "Charge stop state of charge"
)
DISCHARGE_CUTOFF_SOC: Final = Setting(
    "discharge_cutoff_soc",
    "BatUseCap",
    SettingKind.PERCENT,
    "Discharge cutoff state of charge",
)
CHARGE_WINDOW_ENDS: Final = _window_ends("Charge", "TimeCha")
DISCHARGE_WINDOW_ENDS: Final = _window_ends("Discharge", "TimeDis")

# Every setting we change, and nothing else: the rest of an answer is the battery's.
SETTINGS: Final[tuple[Setting, ...]] = (
    GRID_CHARGING,
    DISCHARGE_CONTROL,
    CHARGE_STOP_SOC,
    DISCHARGE_CUTOFF_SOC,
    *CHARGE_WINDOW_ENDS,
    *DISCHARGE_WINDOW_ENDS,
)
BY_WIRE_KEY: Final = {setting.wire_key: setting for setting in SETTINGS}


def charge_window(number: int) -> tuple[Setting, Setting]:
    """Start and end of charge window ``number`` (1 or 2)."""
    start, end = (s for s in CHARGE_WINDOW_ENDS if s.window == number)
    return start, end


def spoken(key: str, value: object) -> str:
    """A setting's value in plain words: ``on``, ``80 %``, ``02:00``."""
    setting = BY_WIRE_KEY.get(key)
    if setting is not None and setting.kind is SettingKind.SWITCH:
        text = str(value).strip().lower()
        return "on" if value is True or text in ("true", "1") else "off"
    number = _number(value)
    if number is None:
        return printable(str(value))  # a value the battery or the cloud sent
    if setting is not None and setting.kind is SettingKind.HOUR:
        return f"{int(number):02d}:00"
    if setting is not None and setting.kind is SettingKind.PERCENT:
        return f"{number:g} %"
    return f"{number:g}"


def spoken_changes(
    changes: Sequence[Change],
    before: Mapping[str, object],
    after: Mapping[str, object],
) -> list[tuple[str, str, str]]:
    """(label, old, new) in plain words, one per setting changed.

    A window end's hour and minute (Modbus) are one time, ``02:00 → 02:30``, however
    many of its registers changed; without minutes each change is :func:`spoken`.
    """
    said: dict[str, tuple[str, str, str]] = {}
    for change in changes:
        key = change.key.removesuffix(MINUTE_SUFFIX)
        setting = BY_WIRE_KEY.get(key)
        if key in said:
            continue
        if setting is not None and (
            key != change.key or minute_key(key) in before or minute_key(key) in after
        ):
            old, new = setting.read_time(before), setting.read_time(after)
            said[key] = (
                setting.label,
                spoken(key, before.get(key)) if old is None else f"{old:%H:%M}",
                spoken(key, after.get(key)) if new is None else f"{new:%H:%M}",
            )
        else:
            said[key] = (
                setting_label(key),
                spoken(change.key, change.old),
                spoken(change.key, change.new),
            )
    return list(said.values())


def setting_label(key: str) -> str:
    """How a person calls the setting behind wire key ``key`` (logs of changes)."""
    setting = BY_WIRE_KEY.get(key)
    return setting.label if setting is not None else key


class SettingError(ValueError):
    """A requested setting the battery cannot hold; ``key`` names the rule broken."""

    def __init__(self, key: str, message: str) -> None:
        """Remember which rule (a translation key) was broken."""
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Change:
    """One key, from what the battery reported to what the user asked."""

    key: str
    old: object
    new: SettingValue


def normalize(
    changes: Mapping[str, Requested], *, minutes: bool = False
) -> dict[str, SettingValue]:
    """The changes as the battery will hold them; refuses what it cannot hold.

    ``minutes``: the channel holds window ends' minutes (Modbus): a time of day sets
    the hour and, under :func:`minute_key`, the minute (``:00`` included).
    """
    normalized: dict[str, SettingValue] = {}
    for key, value in changes.items():
        setting = BY_WIRE_KEY.get(key)
        if setting is None:
            raise SettingError("unknown_setting", f"{key} cannot be changed")
        normalized[key] = setting.check(value, minutes=minutes)
        if minutes and isinstance(value, time) and setting.kind is SettingKind.HOUR:
            normalized[minute_key(key)] = value.minute
    return normalized


def validate(
    changes: Mapping[str, Requested],
    current: Mapping[str, object],
    *,
    minutes: bool = False,
) -> dict[str, SettingValue]:
    """:func:`normalize`, plus the rules between settings given the current report."""
    normalized = normalize(changes, minutes=minutes)
    stop = _number(
        normalized.get(CHARGE_STOP_SOC.wire_key, current.get(CHARGE_STOP_SOC.wire_key))
    )
    cutoff = _number(
        normalized.get(
            DISCHARGE_CUTOFF_SOC.wire_key, current.get(DISCHARGE_CUTOFF_SOC.wire_key)
        )
    )
    if stop is not None and cutoff is not None and stop <= cutoff:
        raise SettingError(
            "stop_below_cutoff",
            "the charge stop SOC must be above the discharge cutoff",
        )
    return normalized


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def write_like(old: object, new: SettingValue) -> object:
    """``new`` in the form the battery used for ``old``."""
    if isinstance(new, bool):
        if not isinstance(old, str):
            return new
        if old in ("0", "1"):
            return "1" if new else "0"
        text = "true" if new else "false"
        return text.capitalize() if old[:1].isupper() else text
    if isinstance(old, str):
        decimals = len(old.split(".", 1)[1]) if "." in old else 0
        return f"{float(new):.{decimals}f}"
    if isinstance(old, int) and not isinstance(old, bool) and float(new).is_integer():
        return int(new)
    return new


def build_answer(
    report: Mapping[str, object], changes: Mapping[str, SettingValue]
) -> tuple[dict[str, object], list[Change]]:
    """The settings to send: the report as the battery sent it, changed keys replaced."""
    answer = dict(report)
    applied: list[Change] = []
    for key, value in changes.items():
        old = report.get(key)
        if shows({key: old}, {key: value}):
            continue  # already so: nothing to write, nothing to log as changed
        answer[key] = write_like(old, value)
        applied.append(Change(key, old, value))
    return answer, applied


def shows(report: Mapping[str, object], changes: Mapping[str, SettingValue]) -> bool:
    """Whether a new report carries every requested value."""
    for key, value in changes.items():
        reported = report.get(key)
        if isinstance(value, bool):
            text = str(reported).strip().lower()
            if text not in ("true", "1") if value else text not in ("false", "0"):
                return False
        elif _number(reported) != float(value):
            return False
    return True
