"""Parsers for the loosely typed values inside payloads.

The battery sends numbers as strings (``"33.2"``), booleans as ``"false"``, ``"False"``
or JSON ``false``, local timestamps without a zone in two formats, and cell extremes
packed into one integer. Every parser here returns ``None`` for what it cannot read so
that one odd field never costs the whole record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import math
from typing import Final

type Value = str | int | float | bool | None
"""A payload value after parsing."""

_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
TIME_FORMAT: Final = "%Y/%m/%d %H:%M:%S"
EVENT_TIME_FORMAT: Final = "%y/%m/%d %H:%M:%S"


def parse_float(raw: object) -> float | None:
    """Parse ``"33.2"``, ``33.2`` or ``"3"``; refuse NaN, infinities and booleans."""
    if type(raw) is str:  # the common case: numbers arrive as strings
        try:
            value = float(raw)
        except ValueError:
            return None
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            value = float(raw)
        except OverflowError:  # a JSON integer of 309+ digits is out of float range
            return None
    else:
        return None
    return value if math.isfinite(value) else None


def parse_int(raw: object) -> int | None:
    """Parse an integer; ``"3.0"`` is accepted as 3, ``"3.5"`` is refused."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str):
        # ValueError covers the interpreter's 4 300-digit cap on int() as well: such a
        # string falls through to parse_float, which reads it as infinite and refuses it.
        try:
            return int(raw)
        except ValueError:
            pass
    value = parse_float(raw)
    if value is not None and value.is_integer():
        return int(value)
    return None


def parse_bool(raw: object) -> bool | None:
    """Parse JSON booleans and the strings ``true``/``False``/``1``/``0``."""
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        return bool(raw) if raw in (0, 1) else None
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def parse_str(raw: object) -> str | None:
    """Return strings as they are and numbers as text; ``None`` for anything else."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return str(raw)
        except ValueError:  # an integer beyond the interpreter's digit cap for str()
            return None
    return None


def parse_time(raw: object) -> datetime | None:
    """Parse the battery's ``2021/03/24 10:01:52`` as a naive local datetime."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    # Fast path for the exact form the battery writes; strptime for anything else.
    if len(text) == 19 and text[4] == text[7] == "/" and text[13] == text[16] == ":":
        # The C parser reads this form five times faster than int() six times; where it
        # succeeds it read the same ASCII digits, so its answer is _time_fields' (hour
        # 24 excepted: newer Pythons read 24:00 as the next midnight).
        if text[11:13] != "24":
            try:
                return datetime.fromisoformat(text.replace("/", "-"))
            except ValueError:
                pass
        return _time_fields(text)
    try:
        return datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return None


def _time_fields(text: str) -> datetime | None:
    try:
        return datetime(
            int(text[:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
        )
    except ValueError:
        return None


def parse_event_time(raw: str) -> datetime | None:
    """Parse the event log's two-digit-year ``21/03/24 10:01:40``."""
    try:
        return datetime.strptime(raw, EVENT_TIME_FORMAT)
    except ValueError:
        return None


def parse_any(raw: object) -> Value:
    """Best-effort typing of a value whose key we do not know."""
    if raw is None or isinstance(raw, bool | int | float):
        return raw
    if not isinstance(raw, str):
        return str(raw)
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    # Keep strings that only look numeric by accident (serials with leading zeros).
    if raw[:1] == "0" and raw != "0" and not raw.startswith("0."):
        return raw
    number: int | float | None = _int_or_none(raw)
    if number is None:
        number = parse_float(raw)
    return raw if number is None else number


def _int_or_none(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PackedCell:
    """A cell extreme: which module and cell, and the value (mV or °C)."""

    module: int
    index: int
    value: int
    raw: int


def parse_packed_voltage(raw: object) -> PackedCell | None:
    """Unpack ``(module << 24) | (cell << 16) | millivolts``."""
    word = parse_int(raw)
    if word is None or not 0 <= word <= 0xFFFFFFFF:
        return None
    return PackedCell(word >> 24, (word >> 16) & 0xFF, word & 0xFFFF, word)


def parse_packed_temperature(raw: object) -> PackedCell | None:
    """Unpack a cell temperature word: module, sensor, signed whole °C in the low byte.

    PROTOCOL.md says temperatures pack like voltages, but the samples put a 0 or 1 in
    the third byte (``0x0106011A`` beside a highest temperature of ``0x0102001B``): read
    as 16 bits, the "lowest" would be 282 °C against a highest of 27 °C. Only the low
    byte agrees with the inverter temperature, so that is what we read (docs/protocol.md).
    """
    word = parse_int(raw)
    if word is None or not 0 <= word <= 0xFFFFFFFF:
        return None
    low = word & 0xFF
    return PackedCell(
        word >> 24, (word >> 16) & 0xFF, low - 256 if low > 127 else low, word
    )
