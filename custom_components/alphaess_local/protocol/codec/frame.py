"""Frames on the wire and the incremental decoder that cuts a TCP stream into them.

A frame is ``version kind command length(4, big-endian) payload crc(2, big-endian)``.
TCP hands us arbitrary slices of that stream, so the decoder keeps a buffer, emits every
complete frame it holds and waits for the rest. Anything it cannot make sense of is
handed back as :class:`CorruptBytes` so the caller can dump it, and the decoder then
looks for the next plausible header instead of giving up on the connection.

Everything on the LAN can reach the port, so the decoder's work is linear in the bytes
it is fed, whatever they are (docs/protocol.md, "Hostile input"):

- a header is only plausible with a length its command can have (a realtime record is
  never 1 MB), so a forged length is refused at once instead of being waited for;
- the next header start is found with one forward scan, never rescanned per read;
- CRC work spent on candidates that turn out damaged never exceeds the bytes received
  (an overlapping-header stream cannot make it check the same bytes again and again);
- after ``max_failures`` abandoned candidates the decoder stops parsing altogether, so
  the caller can close a connection that only sends junk at the cost of a few checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum, StrEnum
import re
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
_START: Final = re.compile(rb"\x01[\x01\x02]")
# Corrupt runs are reported in pieces of at most this size (bounded memory per run).
JUNK_CHUNK: Final = 64 * 1024


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


_KIB: Final = 1024
# The longest payload each frame type can plausibly have: ten or more times what the
# captures show (realtime 0.35 kB, system report 3.1 kB, history of three rows 1.7 kB,
# configuration answer 3.1 kB), so firmware growth fits, a forged length does not.
PAYLOAD_LIMITS: Final[Mapping[tuple[int, int], int]] = {
    (Kind.REQUEST, Command.HEARTBEAT): 4 * _KIB,
    (Kind.REQUEST, Command.LOGIN): 4 * _KIB,
    (Kind.REQUEST, Command.CONFIG): 4 * _KIB,
    (Kind.REQUEST, Command.SYSTEM_REPORT): 64 * _KIB,
    (Kind.REQUEST, Command.DETAILED_RECORD): 32 * _KIB,
    (Kind.REQUEST, Command.SERVER_COMMAND): 4 * _KIB,
    (Kind.REQUEST, Command.EVENT_LOG): 64 * _KIB,
    (Kind.REQUEST, Command.HISTORY): 64 * _KIB,
    (Kind.REQUEST, Command.REALTIME): 16 * _KIB,
    (Kind.REPLY, Command.CONFIG): 64 * _KIB,
}
# Undocumented commands: kept and dumped, but never allowed to be huge.
UNKNOWN_REQUEST_LIMIT: Final = 64 * _KIB
# Replies carry a status (and, for configuration, settings, listed above).
REPLY_LIMIT: Final = 4 * _KIB
MAX_PLAUSIBLE_PAYLOAD: Final = max(*PAYLOAD_LIMITS.values(), UNKNOWN_REQUEST_LIMIT)


def payload_limit(kind: int, command: int) -> int:
    """The longest payload a frame of this kind and command can plausibly carry."""
    default = UNKNOWN_REQUEST_LIMIT if kind == Kind.REQUEST else REPLY_LIMIT
    return PAYLOAD_LIMITS.get((kind, command), default)


# Indexed by (kind - 1) * 256 + command: one list lookup per candidate header.
_LIMIT_TABLE: Final = tuple(
    payload_limit(kind, command) for kind in (1, 2) for command in range(256)
)


class CorruptReason(StrEnum):
    """Why bytes were skipped."""

    CRC_MISMATCH = "crc_mismatch"
    BAD_HEADER = "bad_header"
    OVERSIZED = "oversized"
    TOO_MANY_ERRORS = "too_many_errors"


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

    ``max_payload`` caps every frame type's plausible length further (the server lowers
    it for connections that have not identified themselves). ``max_failures`` is how
    many candidate headers may be abandoned (bad header, implausible length, CRC
    mismatch) before the decoder gives up on the stream: from then on it only counts
    what it is fed. The caller decides the window with :meth:`forgive`.
    """

    __slots__ = (
        "_buf",
        "_credit",
        "_junk",
        "_junk_reason",
        "_need",
        "discarded",
        "failures",
        "max_failures",
        "max_payload",
    )

    def __init__(
        self,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        *,
        max_failures: int | None = None,
    ) -> None:
        """Create a decoder; see the class docstring for the limits."""
        self.max_payload = max_payload
        self.max_failures = max_failures
        self.failures = 0
        self.discarded = 0
        self._buf = bytearray()
        self._junk = bytearray()
        self._junk_reason = CorruptReason.BAD_HEADER
        # Bytes the buffer must hold before parsing is worth resuming.
        self._need = 0
        # CRC bytes that damaged candidates may still cost: earned by bytes received,
        # with one longest frame's worth to start (a damaged first frame is checked).
        self._credit = MAX_PLAUSIBLE_PAYLOAD

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    @property
    def exhausted(self) -> bool:
        """Whether the failure limit was reached: the stream is no longer parsed."""
        return self.max_failures is not None and self.failures >= self.max_failures

    def forgive(self) -> None:
        """Start a new failure window (the caller's clock decides when)."""
        if not self.exhausted:
            self.failures = 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame | CorruptBytes]:
        """Add ``data`` to the stream; return the frames and corrupt runs it completes."""
        if self.exhausted:
            self.discarded += len(data)
            return []
        buf = self._buf
        buf += data
        self._credit = min(self._credit + len(data), 2 * MAX_PLAUSIBLE_PAYLOAD)
        if len(buf) < self._need:
            return []  # the frame being waited for is still incomplete
        self._need = 0
        out: list[Frame | CorruptBytes] = []
        pos, gave_up = self._parse(out)
        if gave_up:
            self._give_up(pos, out)
            return out
        pos = self._skip_partial_garbage(pos)
        del buf[:pos]
        self._flush_junk(out)
        return out

    def abandon_partial(self) -> list[Frame | CorruptBytes]:
        """Treat the header being waited for as damaged and parse on past it.

        A frame whose length field was damaged would otherwise hold the decoder until
        that many bytes arrive, while the battery waits for an acknowledgement that
        never comes. The caller calls this when the stream has been quiet for a while.
        """
        if self.exhausted or not self._buf:
            return []
        self._need = 0
        out: list[Frame | CorruptBytes] = []
        pos = self._skip(0, CorruptReason.BAD_HEADER, out)
        self._buf[:pos] = b""
        out += self.feed(b"")
        return out

    def _parse(self, out: list[Frame | CorruptBytes]) -> tuple[int, bool]:
        """Cut frames from the buffer; return where it stopped and if it gave up."""
        buf = self._buf
        pos = 0
        end = len(buf)
        cap = self.max_payload
        while end - pos >= HEADER_SIZE:
            if self.exhausted:
                return pos, True
            version, kind, command, length = _HEADER.unpack_from(buf, pos)
            if version != PROTOCOL_VERSION or kind not in (1, 2):
                pos = self._skip(pos, CorruptReason.BAD_HEADER, out)
                continue
            if length > cap or length > _LIMIT_TABLE[(kind - 1) * 256 + command]:
                pos = self._skip(pos, CorruptReason.OVERSIZED, out)
                continue
            stop = pos + HEADER_SIZE + length + CRC_SIZE
            if stop > end:
                self._need = stop - pos
                break
            if length > self._credit:
                # Damaged candidates already cost as much CRC work as was received
                # (overlapping forged headers): this one is not worth checking.
                pos = self._skip(pos, CorruptReason.CRC_MISMATCH, out)
                continue
            body = bytes(buf[pos : stop - CRC_SIZE])
            (crc,) = _CRC.unpack_from(buf, stop - CRC_SIZE)
            if crc == crc16_modbus(body):
                self._flush_junk(out)
                out.append(Frame(kind, command, body[HEADER_SIZE:], version))
                pos = stop
                continue
            self._credit -= length
            pos = self._damaged(pos, stop, out)
        return pos, self.exhausted

    def _damaged(self, pos: int, stop: int, out: list[Frame | CorruptBytes]) -> int:
        """A complete frame failed its CRC: decide where the stream goes on.

        Most damage is inside the payload, so when the bytes after the frame begin a
        plausible header (or nothing follows yet) the whole frame is skipped: looking
        for headers inside it would take bytes of its length field or CRC for the
        start of a frame that would then swallow the good frames after it. Otherwise
        the length itself was probably damaged; resynchronise from the next start.
        """
        self.failures += 1
        if stop == len(self._buf) or self._plausible(stop):
            self._flush_junk(out)
            out.append(
                CorruptBytes(bytes(self._buf[pos:stop]), CorruptReason.CRC_MISMATCH)
            )
            return stop
        self.failures -= 1  # _skip counts it
        return self._skip(pos, CorruptReason.CRC_MISMATCH, out)

    def _plausible(self, pos: int) -> bool:
        buf = self._buf
        if len(buf) - pos < HEADER_SIZE:
            return _START.match(buf, pos) is not None or (
                len(buf) - pos == 1 and buf[pos] == PROTOCOL_VERSION
            )
        version, kind, command, length = _HEADER.unpack_from(buf, pos)
        return (
            version == PROTOCOL_VERSION
            and kind in (1, 2)
            and length <= min(self.max_payload, payload_limit(kind, command))
        )

    def _skip(
        self, pos: int, reason: CorruptReason, out: list[Frame | CorruptBytes]
    ) -> int:
        """Move past a bad start to the next plausible header; collect what we pass."""
        self.failures += 1
        if not self._junk:
            self._junk_reason = reason
        nxt = self._next_start(pos + 1)
        self._add_junk(pos, nxt, out)
        return nxt

    def _next_start(self, pos: int) -> int:
        buf = self._buf
        found = _START.search(buf, pos)
        if found is not None:
            return found.start()
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
            self._need = 0
            return nxt
        return pos

    def _add_junk(self, start: int, stop: int, out: list[Frame | CorruptBytes]) -> None:
        self._junk += self._buf[start:stop]
        if len(self._junk) >= JUNK_CHUNK:
            self._flush_junk(out)

    def _give_up(self, pos: int, out: list[Frame | CorruptBytes]) -> None:
        """Report what is left (bounded) and stop parsing for good."""
        rest = len(self._buf) - pos
        keep = min(rest, max(0, JUNK_CHUNK - len(self._junk)))
        self._junk += self._buf[pos : pos + keep]
        self.discarded += rest - keep
        self._flush_junk(out)
        if out and isinstance(out[-1], CorruptBytes):
            out[-1] = CorruptBytes(out[-1].data, CorruptReason.TOO_MANY_ERRORS)
        self._buf.clear()
        self._need = 0

    def _flush_junk(self, out: list[Frame | CorruptBytes]) -> None:
        if self._junk:
            out.append(CorruptBytes(bytes(self._junk), self._junk_reason))
            self._junk.clear()
