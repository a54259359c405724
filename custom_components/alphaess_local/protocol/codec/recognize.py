"""What a connection that does not speak our framing speaks instead (sans-IO).

Owners meet this when their battery's firmware encrypts its cloud link (a TLS
ClientHello, often with the cloud's name as SNI), when the stick talks MQTT, or when a
browser or scanner on the LAN hits the port. Telling them which it was is the
difference between "fix your DNS" and "your firmware no longer speaks clear text".

Only the first chunk a connection sends is looked at, and each parser reads forward
over it once with bounds checked: the work is linear in at most one read's bytes, and
anything malformed is just "not that protocol". Every string taken from the peer is
escaped and shortened before it is reported; MQTT client ids and user names are
personal data (a battery's serial, often) and are masked like serials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import re
from typing import Final

from .escape import printable
from .redact import mask_serial

_TLS_VERSIONS: Final = {
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}
_HTTP_REQUEST: Final = re.compile(
    rb"(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) (\S{1,2048}) HTTP/1\.[01]\r?\n"
)
_HTTP_HOST: Final = re.compile(rb"\r?\nHost:[ \t]*([^\r\n]{0,255})", re.IGNORECASE)


class ForeignKind(StrEnum):
    """The protocols recognised on our port besides our own."""

    TLS = "tls"
    MQTT = "mqtt"
    HTTP = "http"


@dataclass(frozen=True, slots=True)
class Foreign:
    """A recognised foreign protocol and what its first bytes said (escaped)."""

    kind: ForeignKind
    details: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a log or a terminal: ``TLS (sni=www.alphaess.com, ...)``."""
        shown = ", ".join(f"{key}={value}" for key, value in self.details.items())
        return f"{self.kind.name}" + (f" ({shown})" if shown else "")


def _text(raw: bytes) -> str:
    """A peer's bytes as text for :func:`mask_serial`, which escapes what it keeps."""
    return raw.decode("utf-8", "replace")


def recognize(first: bytes) -> Foreign | None:
    """The foreign protocol ``first`` (a connection's first bytes) opens, if any."""
    if not first:
        return None
    if first[0] == 0x16:
        return _tls(first)
    if first[0] == 0x10:
        return _mqtt(first)
    if first[:1].isalpha():
        return _http(first)
    return None


class _Reader:
    """Bounds-checked forward reads; running short raises ``IndexError``."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise IndexError
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def varint(self) -> int:
        """MQTT's variable byte integer: at most four bytes, low seven bits first."""
        value = 0
        for shift in range(0, 28, 7):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        return value


def _tls(data: bytes) -> Foreign | None:
    """A TLS record carrying a ClientHello: its SNI, highest version and ALPN."""
    details: dict[str, str] = {}
    versions: list[int] = []
    try:
        r = _Reader(data)
        if r.u8() != 0x16 or r.u8() != 0x03:
            return None
        r.take(3)  # record version minor, record length
        if r.u8() != 0x01:  # handshake type ClientHello
            return None
        r.u24()
        versions.append(r.u16())
        r.take(32)  # random
        r.take(r.u8())  # session id
        r.take(r.u16())  # cipher suites
        r.take(r.u8())  # compression methods
        end = r.pos + 2 + r.u16()
        while r.pos + 4 <= min(end, len(data)):
            kind, body = r.u16(), _Reader(r.take(r.u16()))
            if kind == 0:  # server_name
                body.u16()
                if body.u8() == 0:
                    details["sni"] = printable(body.take(body.u16()))
            elif kind == 43:  # supported_versions
                versions += [body.u16() for _ in range(body.u8() // 2)]
            elif kind == 16:  # application_layer_protocol_negotiation
                body.u16()
                names = []
                while body.pos < len(body.data):
                    names.append(printable(body.take(body.u8())))
                details["alpn"] = ",".join(names)
    except IndexError:
        pass  # a ClientHello cut by the read still says it is TLS, and what it had
    known = [v for v in versions if v in _TLS_VERSIONS]  # GREASE values are not
    if known:
        details["version"] = _TLS_VERSIONS[max(known)]
    return Foreign(ForeignKind.TLS, details)


def _mqtt(data: bytes) -> Foreign | None:
    """An MQTT CONNECT: its protocol level, masked client id and user name."""
    try:
        r = _Reader(data, 1)
        r.varint()  # remaining length
        name = r.take(r.u16())
        if name not in (b"MQTT", b"MQIsdp"):
            return None
        level = r.u8()
        flags = r.u8()
        r.u16()  # keep alive
        details = {"protocol": name.decode(), "level": str(level)}
        if level == 5:  # MQTT 5 properties
            r.take(r.varint())
        details["client_id"] = mask_serial(_text(r.take(r.u16())))
        if flags & 0x04:  # will topic and message
            r.take(r.u16())
            r.take(r.u16())
        if flags & 0x80:
            details["user"] = mask_serial(_text(r.take(r.u16())))
    except IndexError:
        return None
    return Foreign(ForeignKind.MQTT, details)


def _http(data: bytes) -> Foreign | None:
    """An HTTP/1 request line: method, path, and the Host header if it came along."""
    if not (line := _HTTP_REQUEST.match(data)):
        return None
    details = {"method": line[1].decode(), "path": printable(line[2])}
    if host := _HTTP_HOST.search(data, line.end() - 2):
        details["host"] = printable(host[1].strip())
    return Foreign(ForeignKind.HTTP, details)
