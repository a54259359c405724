"""Peer strings made safe to print, and the shape of a battery serial.

A serial, a user name or a record's text comes from whoever reached the port. Printed
raw, a newline forges a log line, an ANSI escape clears the owner's terminal or retitles
its window, a right-to-left override reorders what the owner reads, and a lone surrogate
makes the log handler fail. Everything we print that a peer wrote goes through
:func:`printable` (or :func:`~.redact.mask_serial`, which uses it): what is not a
printable character comes out as the escape Python would write for it.

A battery serial (``AL9002021030042``) is a short run of letters and digits. Checking
that where a serial first arrives (:func:`is_serial`) keeps every later use of it (a
device identifier, a repair's text, a file of pins) free of anything odd.
"""

from __future__ import annotations

import re
from typing import Final

MAX_SHOWN: Final = 80  # characters of a peer string in a log line or a report
# AlphaESS serials are 15 characters (AL9002021030042); a one-letter "serial" would
# have every such letter masked in the dump of its connection.
MIN_SERIAL_LENGTH: Final = 6
MAX_SERIAL_LENGTH: Final = 32
_SERIAL: Final = re.compile(
    rf"[A-Za-z0-9]{{{MIN_SERIAL_LENGTH},{MAX_SERIAL_LENGTH}}}", re.ASCII
)


def is_serial(text: str) -> bool:
    """Whether ``text`` has the shape of a battery serial: 6-32 ASCII letters, digits."""
    return _SERIAL.fullmatch(text) is not None


def printable(raw: bytes | str, limit: int | None = MAX_SHOWN) -> str:
    """``raw`` with every control, C1, bidi or other unprintable character escaped.

    A backslash is escaped too, so an escape in the output was made here and not sent.
    Past ``limit`` characters the text is cut and ends with ``…``; ``None`` keeps all
    of it (for strings a frame's size already bounds).
    """
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    cut = limit is not None and len(text) > limit
    if cut:
        text = text[:limit]
    if not (text.isprintable() and "\\" not in text):
        text = "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)
    return text + "…" if cut else text


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")


__all__ = [
    "MAX_SERIAL_LENGTH",
    "MAX_SHOWN",
    "MIN_SERIAL_LENGTH",
    "is_serial",
    "printable",
]
