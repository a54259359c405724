"""Personal data out of logs, dumps and printed messages.

The battery sends its owner's address, phone number and licence, component serials and
a password in clear text. Everything this package writes for a human goes through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from datetime import datetime
import re
from typing import Any, Final

from .values import PackedCell

REDACTED: Final = "**REDACTED**"

SECRET_KEYS: Final = frozenset(
    {
        "Password",
        "Address",
        "ZipCode",
        "PhoneNumber",
        "License",
        "InvSN",
        "WifiSN",
        "BakBoxSN",
        "SCBSN",
        *(f"BatterySN{n}" for n in range(1, 19)),
    }
)
SERIAL_KEYS: Final = frozenset({"SN", "UserName"})
# Record attributes that hold the same data under their Python names.
SECRET_FIELDS: Final = frozenset(
    {
        "password",
        "address",
        "zip_code",
        "phone_number",
        "license",
        "inverter_serial",
        "wifi_serial",
    }
)

_KEYS_RE: Final = "|".join(
    sorted((re.escape(k) for k in SECRET_KEYS | SERIAL_KEYS), key=len, reverse=True)
)
# "Key" : "string value"   or   "Key" : 12345 (numbers, true/false)
_JSON_VALUE: Final = re.compile(
    rf'("(?:{_KEYS_RE})"\s*:\s*)(?:"((?:[^"\\]|\\.)*)"|([^,}}\s]+))'.encode()
)


def mask_serial(serial: str | None) -> str:
    """``AL9002021030042`` → ``AL90*********42``: enough to tell two batteries apart."""
    if not serial:
        return "<unknown>"
    if len(serial) <= 6:
        return "*" * len(serial)
    return f"{serial[:4]}{'*' * (len(serial) - 6)}{serial[-2:]}"


def redact_bytes(data: bytes, serials: Iterable[str] = ()) -> bytes:
    """Redact secret JSON values and every known serial in a raw payload."""

    def _sub(match: re.Match[bytes]) -> bytes:
        key = match.group(1)
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if any(key.startswith(f'"{k}"'.encode()) for k in SERIAL_KEYS):
            masked = mask_serial(value.decode("utf-8", "replace")).encode()
        else:
            masked = REDACTED.encode()
        return key + b'"' + masked + b'"'

    result = _JSON_VALUE.sub(_sub, data)
    for serial in serials:
        if serial:
            result = result.replace(serial.encode(), mask_serial(serial).encode())
    return result


def redact_text(text: str, serials: Iterable[str] = ()) -> str:
    """:func:`redact_bytes` for text."""
    return redact_bytes(text.encode("utf-8", "replace"), serials).decode(
        "utf-8", "replace"
    )


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """Copy of a payload mapping with secret values replaced and serials masked."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECRET_KEYS:
            out[key] = REDACTED
        elif key in SERIAL_KEYS:
            out[key] = mask_serial(str(value))
        else:
            out[key] = value
    return out


def to_jsonable(value: Any) -> Any:
    """A typed message as plain JSON data, with personal data redacted.

    Used by the terminal ``serve`` command and by diagnostics.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, PackedCell):
            return {"module": value.module, "index": value.index, "value": value.value}
        out: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            name = item.name
            inner = getattr(value, name)
            if name in SECRET_FIELDS:
                out[name] = None if inner is None else REDACTED
            elif name == "serial":
                out[name] = mask_serial(inner) if inner else inner
            elif name == "raw":
                continue  # the same data as the typed fields and extra, unredacted
            elif name == "extra":
                out[name] = redact_mapping(inner)
            elif name == "frame":
                out[name] = {"header": list(inner.header), "length": len(inner.payload)}
            else:
                out[name] = to_jsonable(inner)
        return out
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in redact_mapping(value).items()}
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value
