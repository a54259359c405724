"""Personal data out of logs, dumps and printed messages.

The battery sends its owner's address, phone number and licence, component serials and
a password in clear text. Everything this package writes for a human goes through here.

Raw payloads are redacted as bytes, because the ones worth dumping are the ones we could
not decode: they may be cut short, not UTF-8, or not the shape we expect. Serials are
therefore masked three ways: as values of known JSON keys, as the ``SN`` column of a CSV
history upload, and wherever something shaped like a serial stands on its own, so that
a frame from a battery that has not named itself yet is covered too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from datetime import datetime
import re
from typing import Any, Final

from .escape import MAX_SERIAL_LENGTH, printable
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
# "Key" : "string value"   or   "Key" : 12345 (numbers, true/false). A string cut off by
# the end of the data (a damaged frame, a truncated run) is redacted to the end.
_JSON_VALUE: Final = re.compile(
    rf'(?P<prefix>"(?P<key>{_KEYS_RE})"\s*:\s*)'
    rf'(?:"(?P<text>(?:[^"\\]|\\.)*)(?:"|\\?\Z)|(?P<bare>[^,}}\s]+))'.encode(),
    re.DOTALL,
)
# A CSV header line naming a secret or serial column (history uploads: "Date,Time,SN,…").
_CSV_HEADER: Final = re.compile(
    rf"(?m)(?:^|,)[ \t]*(?:{_KEYS_RE})[ \t\r]*(?:,|$)".encode()
)
# Two or three capitals, then 10-20 digits or capitals starting with a digit, standing
# alone: AlphaESS system serials (AL9002021030042) and their kin, while words, JSON keys
# (PMeterDCL1), plain numbers and timestamps never match.
_SERIAL_TOKEN: Final = re.compile(
    rb"(?<![A-Za-z0-9])[A-Z]{2,3}[0-9][0-9A-Z]{9,19}(?![A-Za-z0-9])"
)
_LONGEST_TOKEN: Final = 3 + 20
_TRAILING_WORD: Final = re.compile(rb"[A-Za-z0-9]+\Z")
_SECRET_NAMES: Final = frozenset(k.encode() for k in SECRET_KEYS)
_SERIAL_NAMES: Final = frozenset(k.encode() for k in SERIAL_KEYS)


def mask_serial(serial: str | None) -> str:
    """``AL9002021030042`` → ``AL90*********42``: enough to tell two batteries apart.

    Refused serials are masked too, and they may be anything a peer sent: what is kept
    is escaped, and a long one shows at most :data:`MAX_SERIAL_LENGTH` characters.
    """
    if not serial:
        return "<unknown>"
    if len(serial) <= 6:
        return "*" * len(serial)
    hidden = min(len(serial), MAX_SERIAL_LENGTH) - 6
    more = "…" if len(serial) > MAX_SERIAL_LENGTH else ""
    return printable(f"{serial[:4]}{'*' * hidden}{more}{serial[-2:]}", None)


def _mask_bytes(value: bytes) -> bytes:
    """:func:`mask_serial` for bytes that need not be text."""
    if len(value) <= 6:
        return b"*" * len(value)
    return value[:4] + b"*" * (len(value) - 6) + value[-2:]


def _json_sub(match: re.Match[bytes]) -> bytes:
    if match["key"] in _SERIAL_NAMES:
        value = match["text"] if match["text"] is not None else match["bare"]
        masked = mask_serial(value.decode("utf-8", "replace")).encode()
    else:
        masked = REDACTED.encode()
    return match["prefix"] + b'"' + masked + b'"'


def _redact_cell(cell: bytes, *, secret: bool) -> bytes:
    """Mask a CSV cell's content, keeping the spaces and line end around it."""
    start = len(cell) - len(cell.lstrip())
    end = len(cell.rstrip())
    if start >= end:
        return cell
    core = cell[start:end]
    return (
        cell[:start] + (REDACTED.encode() if secret else _mask_bytes(core)) + cell[end:]
    )


def _redact_csv(data: bytes) -> bytes:
    """Mask the serial and secret columns of CSV text below the header naming them.

    A history upload can be a reconnected battery's first frame, before anything told
    the session its serial; its header says which column holds it.
    """
    for found in _CSV_HEADER.finditer(data):
        start = data.rfind(b"\n", 0, found.start()) + 1
        end = data.find(b"\n", found.start())
        if end < 0:
            return data  # a header with no rows below it
        names = [cell.strip() for cell in data[start:end].split(b",")]
        if len(names) > 1:
            break
    else:
        return data
    columns = {
        index: name in _SECRET_NAMES
        for index, name in enumerate(names)
        if name in _SECRET_NAMES or name in _SERIAL_NAMES
    }
    if not columns:  # cannot happen after the match above; never raise over it
        return data
    last = max(columns)
    rows = data[end + 1 :].split(b"\n")
    for number, row in enumerate(rows):
        cells = row.split(b",", last + 1)  # the tail past the last column stays whole
        for index, secret in columns.items():
            # A repeated header names the column; it holds nothing to hide.
            if index < len(cells) and cells[index].strip() != names[index]:
                cells[index] = _redact_cell(cells[index], secret=secret)
        rows[number] = b",".join(cells)
    return data[: end + 1] + b"\n".join(rows)


def redact_bytes(data: bytes, serials: Iterable[str] = ()) -> bytes:
    """Redact secrets and serials in a raw payload, whatever its encoding.

    ``serials`` are the ones the caller knows; they are masked wherever they occur, even
    when they do not look like AlphaESS serials. Serials nobody named are found by their
    place (JSON key, CSV column) or their shape.
    """
    result = _JSON_VALUE.sub(_json_sub, data)
    result = _redact_csv(result)
    for serial in serials:
        if serial:
            shown = mask_serial(serial).encode()
            result = result.replace(serial.encode("utf-8", "replace"), shown)
    return _SERIAL_TOKEN.sub(lambda m: _mask_bytes(m.group()), result)


def redact_head(
    data: bytes, limit: int, serials: Iterable[str] = ()
) -> tuple[bytes, bool]:
    """Redact only what a capped line can keep: about the first ``limit`` bytes.

    A hostile peer can send a megabyte per frame; redacting all of it on the event loop
    to keep a few kilobytes would hand it the loop. Cutting first is safe only if the
    cut leaves no fragment the rules below would have caught whole, so the head loses:
    a half UTF-8 character (text stays text), a trailing run of letters and digits short
    enough to be part of a serial, and a trailing start of a known serial. A secret JSON
    string cut open is redacted to the end by :func:`redact_bytes` itself.

    Returns the redacted head and whether it holds all of ``data``.
    """
    if len(data) <= limit:
        return redact_bytes(data, serials), True
    # A peer's serial may hold a lone surrogate (JSON "\ud800"): never raise over it.
    known = [s.encode("utf-8", "replace") for s in serials if s]
    cut = max(limit, 0)
    while cut > 0 and limit - cut < 3 and data[cut] & 0xC0 == 0x80:
        cut -= 1  # a UTF-8 continuation byte: the character began before the cut
    while True:
        head = data[:cut]
        word = _TRAILING_WORD.search(head)
        if word is not None and len(word.group()) <= _LONGEST_TOKEN:
            head = head[: word.start()]
        for serial in known:
            head = head[: len(head) - _partial_suffix(head, serial)]
        if len(head) == cut:
            break
        cut = len(head)
    return redact_bytes(head, serials), False


def _partial_suffix(data: bytes, serial: bytes) -> int:
    """Length of the longest proper start of ``serial`` that ``data`` ends with."""
    for size in range(min(len(serial) - 1, len(data)), 0, -1):
        if data.endswith(serial[:size]):
            return size
    return 0


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

    Used by the terminal ``serve`` command and by diagnostics; every string in it (keys
    too: a payload's keys are the peer's) is :func:`printable`.
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
                out[name] = to_jsonable(inner)  # redacted, keys and text escaped
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
        return {
            printable(str(k), None): to_jsonable(v)
            for k, v in redact_mapping(value).items()
        }
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return printable(value, None)
    return value
