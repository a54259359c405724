"""Frames on the wire and the incremental decoder that cuts a TCP stream into them.

A frame is ``version kind command length(4, big-endian) payload crc(2, big-endian)``.
TCP hands us arbitrary slices of that stream, so the decoder keeps a buffer, emits every
complete frame it holds and waits for the rest. Anything it cannot make sense of is
handed back as :class:`CorruptBytes` so the caller can dump it, and the decoder then
looks for the next plausible header instead of giving up on the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
import struct
from typing import Final

from .crc import crc16_modbus

HEADER_SIZE: Final = 7
CRC_SIZE: Final = 2
PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_PAYLOAD: Final = 1024 * 1024

_HEADER: Final = struct.Struct(">BBBI")
_CRC: Final = struct.Struct(">H")
# Every plausible header starts with version 1 and kind 1 or 2.
_STARTS: Final = (b"\x01\x01", b"\x01\x02")


class Kind(IntEnum):
    """Second header byte."""

    REQUEST = 1
    REPLY = 2


class Command(IntEnum):
    """Third header byte, as far as it is known (see docs/protocol.md)."""

    HEARTBEAT = 0
    LOGIN = 2
    CONFIG = 3
    SYSTEM_REPORT = 4
    DETAILED_RECORD = 5
    SERVER_COMMAND = 8
    EVENT_LOG = 9
    HISTORY = 12
    REALTIME = 16


class CorruptReason(StrEnum):
    """Why bytes were skipped."""

    CRC_MISMATCH = "crc_mismatch"
    BAD_HEADER = "bad_header"
    OVERSIZED = "oversized"


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame; ``kind`` and ``command`` stay plain ints so unknown values survive."""

    kind: int
    command: int
    payload: bytes = b""
    version: int = PROTOCOL_VERSION

    @property
    def header(self) -> tuple[int, int, int]:
        """The three header bytes, as PROTOCOL.md writes them: ``(1, 1, 16)``."""
        return (self.version, self.kind, self.command)

    def encode(self) -> bytes:
        """Return the frame as bytes on the wire, CRC included."""
        head = _HEADER.pack(self.version, self.kind, self.command, len(self.payload))
        body = head + self.payload
        return body + _CRC.pack(crc16_modbus(body))


@dataclass(frozen=True, slots=True)
class CorruptBytes:
    """Bytes the decoder skipped, kept for the unknown-traffic dump."""

    data: bytes
    reason: CorruptReason


class FrameDecoder:
    """Incremental decoder: ``feed()`` byte chunks of any size, get frames back.

    The buffer never holds more than one header, one capped payload and its CRC, plus
    the chunk being fed: a length field above ``max_payload`` is treated as a bad
    header, never waited for.
    """

    __slots__ = ("_buf", "_junk", "_junk_reason", "max_payload")

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        """Create a decoder that refuses payloads longer than ``max_payload``."""
        self.max_payload = max_payload
        self._buf = bytearray()
        self._junk = bytearray()
        self._junk_reason = CorruptReason.BAD_HEADER

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | CorruptBytes]:
        """Add ``data`` to the stream; return the frames and corrupt runs it completes."""
        buf = self._buf
        buf += data
        out: list[Frame | CorruptBytes] = []
        pos = 0
        end = len(buf)
        max_payload = self.max_payload
        while end - pos >= HEADER_SIZE:
            version, kind, command, length = _HEADER.unpack_from(buf, pos)
            if version != PROTOCOL_VERSION or kind not in (1, 2):
                pos = self._skip(pos, CorruptReason.BAD_HEADER, out)
                continue
            if length > max_payload:
                pos = self._skip(pos, CorruptReason.OVERSIZED, out)
                continue
            stop = pos + HEADER_SIZE + length + CRC_SIZE
            if stop > end:
                break
            raw = bytes(buf[pos:stop])
            (crc,) = _CRC.unpack_from(raw, len(raw) - CRC_SIZE)
            if crc != crc16_modbus(memoryview(raw)[:-CRC_SIZE]):
                pos = self._skip(pos, CorruptReason.CRC_MISMATCH, out)
                continue
            self._flush_junk(out)
            out.append(Frame(kind, command, raw[HEADER_SIZE:-CRC_SIZE], version))
            pos = stop
        pos = self._skip_partial_garbage(pos)
        del buf[:pos]
        self._flush_junk(out)
        return out

    def _skip(
        self, pos: int, reason: CorruptReason, out: list[Frame | CorruptBytes]
    ) -> int:
        """Move past a bad start to the next plausible header; collect what we pass."""
        if not self._junk:
            self._junk_reason = reason
        nxt = self._next_start(pos + 1)
        self._junk += self._buf[pos:nxt]
        if len(self._junk) >= self.max_payload:
            self._flush_junk(out)
        return nxt

    def _next_start(self, pos: int) -> int:
        buf = self._buf
        hits = [i for i in (buf.find(s, pos) for s in _STARTS) if i >= 0]
        if hits:
            return min(hits)
        # No header start in sight; keep a trailing 0x01, it may begin the next one.
        end = len(buf)
        return end - 1 if end > pos and buf[-1] == PROTOCOL_VERSION else end

    def _skip_partial_garbage(self, pos: int) -> int:
        """Drop leftover bytes that cannot begin a header (e.g. a lone ``0x02``)."""
        buf = self._buf
        end = len(buf)
        if pos < end and (
            buf[pos] != PROTOCOL_VERSION
            or (end - pos > 1 and buf[pos + 1] not in (1, 2))
        ):
            if not self._junk:
                self._junk_reason = CorruptReason.BAD_HEADER
            nxt = self._next_start(pos + 1)
            self._junk += buf[pos:nxt]
            return nxt
        return pos

    def _flush_junk(self, out: list[Frame | CorruptBytes]) -> None:
        if self._junk:
            out.append(CorruptBytes(bytes(self._junk), self._junk_reason))
            self._junk.clear()
