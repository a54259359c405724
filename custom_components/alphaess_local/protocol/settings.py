"""Settings the battery accepts in a configuration answer, and how to write them.

The battery applies what a ``(1,2,3)`` answer holds (PROTOCOL.md, section 6), so an
answer is built from the battery's own latest system report with only the changed keys
replaced, each written in the form the battery used for it (``"false"`` stays a
lower-case string, ``"100.00"`` keeps two decimals, a JSON ``false`` stays a boolean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

GRID_CHARGE: Final = "GridCharge"
DISCHARGE_CONTROL: Final = "CtrDis"
CHARGE_STOP_SOC: Final = "BatHighCap"
DISCHARGE_CUTOFF_SOC: Final = "BatUseCap"
CHARGE_WINDOWS: Final = (("TimeChaF1", "TimeChaE1"), ("TimeChaF2", "TimeChaE2"))
DISCHARGE_WINDOWS: Final = (("TimeDisF1", "TimeDisE1"), ("TimeDisF2", "TimeDisE2"))
HOUR_KEYS: Final = frozenset(
    k for pair in CHARGE_WINDOWS + DISCHARGE_WINDOWS for k in pair
)
SOC_KEYS: Final = frozenset({CHARGE_STOP_SOC, DISCHARGE_CUTOFF_SOC})
BOOL_KEYS: Final = frozenset({GRID_CHARGE, DISCHARGE_CONTROL})
CONTROLLABLE: Final = HOUR_KEYS | SOC_KEYS | BOOL_KEYS

type SettingValue = bool | int | float

# How a person calls each setting (logs of who changed what).
LABELS: Final = {
    GRID_CHARGE: "Grid charging",
    DISCHARGE_CONTROL: "Timed discharge",
    CHARGE_STOP_SOC: "Charge stop state of charge",
    DISCHARGE_CUTOFF_SOC: "Discharge cutoff state of charge",
    **{
        key: f"{kind} window {n} {edge}"
        for kind, windows in (
            ("Charge", CHARGE_WINDOWS),
            ("Discharge", DISCHARGE_WINDOWS),
        )
        for n, pair in enumerate(windows, start=1)
        for edge, key in zip(("start", "end"), pair, strict=True)
    },
}


def spoken(key: str, value: object) -> str:
    """A setting's value in plain words: ``on``, ``80 %``, ``02:00``."""
    if key in BOOL_KEYS:
        text = str(value).strip().lower()
        return "on" if value is True or text in ("true", "1") else "off"
    number = _number(value)
    if number is None:
        return str(value)
    if key in HOUR_KEYS:
        return f"{int(number):02d}:00"
    if key in SOC_KEYS:
        return f"{number:g} %"
    return f"{number:g}"


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


def validate(
    changes: Mapping[str, SettingValue], current: Mapping[str, object]
) -> None:
    """Refuse what the battery cannot hold, before anything is sent."""
    for key, value in changes.items():
        if key not in CONTROLLABLE:
            raise SettingError("unknown_setting", f"{key} cannot be changed")
        if key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise SettingError("invalid_value", f"{key} must be on or off")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingError("invalid_value", f"{key} must be a number")
        elif key in HOUR_KEYS and (value != int(value) or not 0 <= value <= 23):
            raise SettingError("hour_out_of_range", f"{key} must be a whole hour 0-23")
        elif key in SOC_KEYS and not 0 <= value <= 100:
            raise SettingError("soc_out_of_range", f"{key} must be 0-100 %")
    stop = _number(changes.get(CHARGE_STOP_SOC, current.get(CHARGE_STOP_SOC)))
    cutoff = _number(
        changes.get(DISCHARGE_CUTOFF_SOC, current.get(DISCHARGE_CUTOFF_SOC))
    )
    if stop is not None and cutoff is not None and stop <= cutoff:
        raise SettingError(
            "stop_below_cutoff",
            "the charge stop SOC must be above the discharge cutoff",
        )


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
