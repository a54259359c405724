"""One battery connection: read, acknowledge, deliver, until it ends.

Each session is its own task, so a slow or hostile peer only ever stalls itself: reads
have the idle deadline, writes have a drain deadline, and the decoder's buffer is capped.

A connection earns its place (docs/protocol.md, "Hostile input"): it must send a valid
frame soon after connecting, it speaks for the first serial it names and no other, and
a few bad frames within a minute close it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime
import logging
from typing import Final, Protocol

from ..codec.escape import MAX_SERIAL_LENGTH, MIN_SERIAL_LENGTH, is_serial
from ..codec.frame import (
    Command,
    CorruptBytes,
    CorruptReason,
    Frame,
    FrameDecoder,
    Kind,
)
from ..codec.messages import (
    CommandReply,
    EventLog,
    HistoryUpload,
    Login,
    Message,
    SystemMessage,
    Undecodable,
    UnknownMessage,
    message_serial,
)
from ..codec.recognize import Foreign, ForeignKind, recognize
from ..codec.records import PowerRecord, SystemReport
from ..codec.redact import mask_serial
from ..codec.replies import acknowledge, config_answer
from .connections import ConnectionLog, Spoke
from .credentials import Proof
from .events import Corrupted, Received, ServerEvent
from .pacing import Pacer, deliver
from .pending import PendingCommands
from .tls_answer import TlsAnswer, TlsInfo, Upgraded, inside, mqtt_topics, with_topics

_LOGGER = logging.getLogger(__name__)

READ_SIZE: Final = 64 * 1024
WRITE_TIMEOUT: Final = 30.0
# Unread replies held for a peer before a write waits for it (bounded memory).
DRAIN_ABOVE: Final = 64 * 1024
# A connection must deliver its first valid frame within this (a battery logs in or
# pushes at once), and identify itself before it may send long frames.
FIRST_FRAME_TIMEOUT: Final = 20.0
UNIDENTIFIED_MAX_PAYLOAD: Final = 16 * 1024
# Bad frames (undecodable, damaged, for another serial) tolerated per window; one more
# closes the connection. A healthy battery sends none for months.
MAX_STRIKES: Final = 8
STRIKE_WINDOW: Final = 60.0
# A frame announced by its header but not complete after this long is taken to have a
# damaged length: the decoder resynchronises past it (the battery waits for its ack).
PARTIAL_TIMEOUT: Final = 15.0
# Frames handled per loop step when one read holds many (pacing.py does big uploads).
FRAMES_PER_STEP: Final = 16
# What a battery sends only about itself: the requests that show it is alive.
_LIFE_SIGNS: Final = (PowerRecord, SystemReport, HistoryUpload, EventLog, SystemMessage)


class SessionOwner(Protocol):
    """What a session asks of the server that accepted it.

    Policy (who may connect, what is logged, where events go) stays with the server;
    the session only reports what it saw. Spelled out here so that neither module
    imports the other.
    """

    max_payload: int
    idle_timeout: float
    connections: ConnectionLog
    # How a TLS ClientHello is answered (``tls_answer.py``); ``None`` closes it.
    tls: TlsAnswer | None
    # The monotonic clock of every rule that counts time (injected in tests); the
    # deadlines below are the event loop's own timers.
    ticks: Callable[[], float]

    def now(self) -> datetime:
        """Host time to stamp events with."""

    def admit(self, session: Session, serial: str, login: Login | None) -> bool:
        """Whether ``session`` may speak for ``serial`` (and now does).

        ``login`` is the login that named it, if the connection logged in.
        """

    def delivered(self, session: Session) -> None:
        """``session`` sent its battery's data (a first login it made is pinned)."""

    async def config_for(self, serial: str | None) -> Mapping[str, object] | None:
        """Settings for ``serial``'s configuration answer, if any are due."""

    def foreign_protocol(self, session: Session, foreign: Foreign, data: bytes) -> None:
        """Report a connection that opened with another protocol (it is closed)."""

    def may_warn(self, host: str) -> bool:
        """Whether bad input from ``host`` may still be logged as a warning."""

    def dump_bytes(
        self,
        session: Session,
        reason: str,
        data: bytes,
        header: tuple[int, int, int] | None,
        serials: Collection[str] = (),
    ) -> None:
        """Keep a redacted copy of bytes that could not be used."""

    def relay_frame(self, session: Session, frame: Frame) -> None:
        """Forward an accepted, acknowledged frame to the cloud (if the relay is on)."""

    def emit(self, event: ServerEvent) -> None:
        """Hand an event to the owner."""

    def session_ended(self, session: Session) -> None:
        """The connection is gone."""


class Session:
    """State of one TCP connection from a battery (or from anything else)."""

    def __init__(
        self,
        server: SessionOwner,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Wrap an accepted connection."""
        self._server = server
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.host = peer[0] if isinstance(peer, tuple) else str(peer)
        self.serial: str | None = None
        self.frames = 0
        # When it connected, on the rules' clock (the door's grace and churn).
        self.opened_at = server.ticks()
        # Loop time of the connection and of its last valid frame: the first-frame
        # and idle deadlines count from them.
        self._connected_at = asyncio.get_running_loop().time()
        self.last_frame_at: float | None = None
        # When the battery last showed it is alive, on the rules' clock (holders.py):
        # a request carrying its data. Admission, logins, replies and heartbeats carry
        # nothing a squatter could not send forever.
        self.alive_at: float | None = None
        self.has_delivered = False
        self.evicted = False
        # What the connection showed of its right to its serial.
        self.proof = Proof.NONE
        # A first login's credentials, until its data earns them a pin (holders.py).
        self.first_login: tuple[str, str] | None = None
        # The battery model its system report named (a refusal tells the owner).
        self.model: str | None = None
        self.record = server.connections.opened(self.peer, server.now())
        # Set once a TLS handshake we answered completed (``tls_answer.py``).
        self.tls: TlsInfo | None = None
        # How the connection ended, for the connection log (set where it is decided).
        self.end_reason: str | None = None
        self._strikes = 0
        self._window_start = self.opened_at
        self._decoder = FrameDecoder(
            min(server.max_payload, UNIDENTIFIED_MAX_PAYLOAD),
            max_failures=MAX_STRIKES,
        )
        self._pending = PendingCommands()
        self._abort = False
        # Big history uploads: parsed and delivered in steps, rows a minute bounded.
        self._pacer = Pacer(self._warn, lambda: self.label, server.ticks)

    @property
    def label(self) -> str:
        """How logs name this connection: masked serial, or the peer until known."""
        return mask_serial(self.serial) if self.serial else self.peer

    async def run(self) -> None:  # noqa: PLR0915 - one loop, clear text or TLS
        """Serve the connection until the peer leaves, idles out or is refused."""
        loop = asyncio.get_running_loop()
        decoder = self._decoder
        idle = self._server.idle_timeout
        deadline = self._connected_at + min(idle, FIRST_FRAME_TIMEOUT)
        # Only a connection's first read is looked at for another protocol: at most
        # one read's bytes, once.
        first_read = True
        try:
            while True:
                partial = decoder.buffered > 0
                wait_until = (
                    min(deadline, loop.time() + PARTIAL_TIMEOUT)
                    if partial
                    else deadline
                )
                try:
                    async with asyncio.timeout_at(wait_until):
                        data = await self._reader.read(READ_SIZE)
                except TimeoutError:
                    if loop.time() < deadline:
                        # Quiet with half a frame: its length was probably damaged.
                        items = decoder.abandon_partial()
                    else:
                        quiet = loop.time() - (self.last_frame_at or self._connected_at)
                        _LOGGER.info(
                            "Closing %s: no complete frame for %.0f s",
                            self.label,
                            quiet,
                        )
                        self.end_reason = f"no complete frame for {quiet:.0f} s"
                        break
                else:
                    if not data:
                        self.end_reason = self.end_reason or "closed by the peer"
                        break
                    if first_read and (foreign := recognize(data)) is not None:
                        if (found := await self._answer_tls(foreign, data)) is None:
                            continue  # encrypted now: its first bytes are read anew
                        foreign = found
                        self.record.spoke = Spoke(foreign.kind)
                        self.record.detail = foreign.describe()
                        self.end_reason = "closed: another protocol"
                        self._server.foreign_protocol(self, foreign, data)
                        break  # at once: nothing more will come that we can read
                    if first_read and self.tls is not None and self._server.tls:
                        self._server.tls.read(self.host, self.label, self.tls)
                    first_read = False
                    items = decoder.feed(data)
                for count, item in enumerate(items, 1):
                    if self._abort:
                        return  # dropped or taken over meanwhile: it says no more
                    if count % FRAMES_PER_STEP == 0:
                        # One 64 KiB read holds hundreds of small frames: other
                        # batteries' acks do not wait for all of them.
                        await asyncio.sleep(0)
                    if isinstance(item, CorruptBytes):
                        await self._corrupt(item)
                        continue
                    self.last_frame_at = now = loop.time()
                    deadline = now + idle
                    if not await self._frame(item):
                        return
                if not self._within_limits(self._server.ticks()):
                    break
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Connection %s ended: %s", self.label, err)
            self.end_reason = self.end_reason or f"connection error ({err})"
        finally:
            await self._finish()

    async def _answer_tls(self, foreign: Foreign, data: bytes) -> Foreign | None:
        """Answer a ClientHello if the server does; ``None`` once it is decrypted.

        One session code path for clear text and TLS: after the handshake the reader
        and writer are swapped for the decrypted ones and the loop reads on. What is
        returned is the foreign protocol to report (the handshake's outcome, or what
        spoke inside it).
        """
        answer = self._server.tls
        if answer is None:
            return foreign
        if self.tls is not None:  # the first bytes inside our TLS
            found = inside(foreign, self.tls)
            if foreign.kind is ForeignKind.MQTT:
                topics = await mqtt_topics(self._reader, self._writer, data, foreign)
                if self._abort:
                    raise ConnectionAbortedError("closed while reading MQTT")
                found = with_topics(found, topics)
            return found
        if foreign.kind is not ForeignKind.TLS:
            return foreign
        upgraded = await answer.upgrade(self._reader, self._writer, data, foreign)
        if self._abort:  # evicted or the server closed: not the client's doing
            raise ConnectionAbortedError("closed during the TLS handshake")
        if not isinstance(upgraded, Upgraded):
            return upgraded
        self._reader, self._writer = upgraded.reader, upgraded.writer
        self.tls = upgraded.info
        self.record.tls = upgraded.info.describe()
        return None

    def _within_limits(self, now: float) -> bool:
        """Count this window's bad input; close a connection that only sends junk."""
        if now - self._window_start > STRIKE_WINDOW:
            self._window_start = now
            self._strikes = 0
            self._decoder.forgive()
        if (
            self._decoder.exhausted
            or self._decoder.failures + self._strikes > MAX_STRIKES
        ):
            self._warn(
                "Closing %s: more than %d invalid frames within %.0f s",
                self.label,
                MAX_STRIKES,
                STRIKE_WINDOW,
            )
            self.end_reason = "closed: too many invalid frames"
            return False
        return True

    def abort(self, reason: str = "closed by the server") -> None:
        """Drop the connection at once (server close, or a newer link took over)."""
        self._abort = True
        self.end_reason = self.end_reason or reason
        self._writer.transport.abort()
        self._pacer.closed.set()

    def evict(self) -> None:
        """Make room for a new connection; only unidentified ones are evicted."""
        self.evicted = True
        self.abort("closed to make room for a newer connection")

    def ticks(self) -> float:
        """Now on the rules' clock, which ``opened_at`` and ``alive_at`` are read on."""
        return self._server.ticks()

    @property
    def identified(self) -> bool:
        """Whether the connection has named a serial the server admitted."""
        return self.serial is not None

    async def command(self, index: str, frame: Frame, timeout: float) -> CommandReply:
        """Send a ``(1,1,8)`` command and wait for the reply echoing ``index``."""
        return await self._pending.wait(index, self._send(frame), timeout, self.label)

    async def _frame(self, frame: Frame) -> bool:
        """Handle one frame; return False when the connection must end."""
        self.frames += 1
        message = await self._pacer.decode(frame)
        if self._abort:
            return False  # dropped, evicted or taken over while it was parsed
        serial = message_serial(message)
        if serial and self.serial is None:
            if not is_serial(serial):
                self._refuse_serial(frame, serial)
                return False
            login = message if isinstance(message, Login) else None
            if isinstance(message, SystemReport):
                self.model = message.battery_model
            if not self._server.admit(self, serial, login):
                self.end_reason = "refused"
                return False
            self.serial = serial
            self._decoder.max_payload = self._server.max_payload
        elif isinstance(message, Login) and serial and serial == self.serial:
            # A login after the battery's first records (it reconnected and pushed
            # first): what it proves counts from now on, a refused login too.
            if not self._server.admit(self, serial, message):
                self.end_reason = "refused"
                return False
        own = self._own_part(frame, message)
        later = None
        if frame.kind == Kind.REQUEST:
            if own is message:
                # Queued for the cloud (if the relay is on) before our answer is
                # written: our answer never waits for it, but the cloud's answer to a
                # configuration request may be what we pass on (commands.py).
                self._server.relay_frame(self, frame)
            if frame.command == Command.CONFIG:
                reply = config_answer(await self._server.config_for(self.serial))
            else:
                reply = acknowledge(frame)
            if isinstance(own, HistoryUpload):
                later = reply  # once its rows are handed on: acked means delivered
            else:
                await self._send(reply)
        if own is None:
            return True
        message = own
        if frame.kind == Kind.REQUEST and _carries_data(message):
            self.alive_at = self._server.ticks()
            if not self.has_delivered:
                self.has_delivered = True
                self._server.delivered(self)
        if isinstance(message, CommandReply):
            self._pending.answered(message)
        elif isinstance(message, Undecodable | UnknownMessage):
            reason = (
                f"undecodable: {message.reason}"
                if isinstance(message, Undecodable)
                else "unknown command"
            )
            if isinstance(message, Undecodable):
                self._strikes += 1
            self._warn(
                "Battery %s sent %s frame %s (%d bytes); acknowledged and dumped",
                self.label,
                reason,
                frame.header,
                len(frame.payload),
            )
            self._server.dump_bytes(self, reason, frame.payload, frame.header)
        event = Received(
            self.serial,
            self._server.now(),
            self.peer,
            message,
            unpinned=self.proof is Proof.OTHER,
        )
        await deliver(self._server.emit, event, lambda: not self._abort)
        if later is not None:
            await self._send(later)
        return True

    def _refuse_serial(self, frame: Frame, serial: str) -> None:
        """Close a connection naming something no battery would call its serial."""
        self.record.spoke = Spoke.REFUSED
        self.record.detail = "not a battery serial"
        self.end_reason = "refused: not a battery serial"
        self._warn(
            "Refused connection %s: it named %s (%d characters) as its serial, which "
            "is not %d to %d letters and digits; dumped",
            self.peer,
            mask_serial(serial),
            len(serial),
            MIN_SERIAL_LENGTH,
            MAX_SERIAL_LENGTH,
        )
        self._server.dump_bytes(
            self, "not a battery serial", frame.payload, frame.header, (serial,)
        )

    def _own_part(self, frame: Frame, message: Message) -> Message | None:
        """What of ``message`` this connection may say: its own serial's data only.

        A frame (or history row) naming another serial is refused and dumped: one
        connection cannot speak for, displace or create other batteries.
        """
        foreign = _foreign_serials(message, self.serial)
        if not foreign:
            return message
        self._strikes += 1
        self._warn(
            "Connection %s sent a frame %s for other batteries (%s); refused and dumped",
            self.label,
            frame.header,
            ", ".join(sorted(mask_serial(s) for s in foreign)),
        )
        self._server.dump_bytes(
            self, "frame for another serial", frame.payload, frame.header, foreign
        )
        if isinstance(message, HistoryUpload):
            own = tuple(
                r for r in message.rows if not r.serial or r.serial == self.serial
            )
            if own:
                return replace(message, rows=own)
        return None

    async def _corrupt(self, corrupt: CorruptBytes) -> None:
        data = corrupt.data
        if self.record.spoke is Spoke.NOTHING:
            self.record.spoke = Spoke.JUNK
            self.record.detail = f"{len(data)} bytes, {corrupt.reason}"
        self._warn(
            "Connection %s sent %d bytes that are not a valid frame (%s); dumped",
            self.label,
            len(data),
            corrupt.reason,
        )
        header = (data[0], data[1], data[2]) if len(data) >= 3 else None
        self._server.dump_bytes(self, corrupt.reason, data, header)
        # A request with a damaged CRC still expects its acknowledgement: without one
        # the battery may stall (it waits for each history frame's ack).
        if corrupt.reason is CorruptReason.CRC_MISMATCH and header and header[1] == 1:
            await self._send(acknowledge(Frame(Kind.REQUEST, header[2])))
        self._server.emit(
            Corrupted(self.serial, self._server.now(), self.peer, corrupt)
        )

    async def _send(self, frame: Frame) -> None:
        """Queue a reply; wait (with a deadline) only when the peer stopped reading.

        Acknowledgements are tiny: while the transport holds less than
        :data:`DRAIN_ABOVE` bytes there is nothing to wait for, and no timeout to set
        up for every frame.
        """
        writer = self._writer
        writer.write(frame.encode())
        if writer.transport.get_write_buffer_size() <= DRAIN_ABOVE:
            return
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await writer.drain()
        except TimeoutError:
            _LOGGER.warning(
                "Closing %s: it has not read our replies for %.0f s",
                self.label,
                WRITE_TIMEOUT,
            )
            self.abort("closed: it did not read our replies")
            raise ConnectionResetError("peer does not read") from None

    def _warn(self, msg: str, *args: object) -> None:
        """Warn about bad input, a few lines per peer address per hour at most.

        A flood of junk connections from one device must not flood the log: past the
        address's budget the same lines go to debug.
        """
        if self._server.may_warn(self.host):
            _LOGGER.warning(msg, *args)
        else:
            _LOGGER.debug(msg, *args)

    async def _finish(self) -> None:
        self._pending.fail_all(self.label)
        if self._abort:
            self._writer.transport.abort()
        else:
            self._writer.close()
        try:
            async with asyncio.timeout(1):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            self._writer.transport.abort()
        self._server.connections.ended(
            self.record, self.end_reason or "closed", self._server.now()
        )
        self._server.session_ended(self)


def _carries_data(message: Message) -> bool:
    """Whether ``message`` is the battery's data: its sign of life (``alive_at``)."""
    if isinstance(message, HistoryUpload):
        return bool(message.rows)  # a header alone says nothing of the battery
    return isinstance(message, _LIFE_SIGNS)


def _foreign_serials(message: Message, own: str | None) -> list[str]:
    """Serials ``message`` names other than ``own`` (every row of a history upload)."""
    if isinstance(message, HistoryUpload):
        named = {
            r.serial.strip() for r in message.rows if r.serial and r.serial.strip()
        }
    else:
        serial = message_serial(message)
        named = {serial} if serial else set()
    named.discard(own or "")
    return sorted(named)
