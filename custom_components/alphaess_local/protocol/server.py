"""The fake cloud: listens where ``www.alphaess.com:7777`` would, answers as it does.

Runs in whatever asyncio loop starts it (Home Assistant's, or the terminal tool's) and
hands every event to one callback. It never sends settings on its own (PROTOCOL.md,
section 6): a configuration request gets ``{"Status":"Success"}`` unless the owner has
explicitly handed it settings for that battery with :meth:`AlphaServer.hand_config`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
import logging
import time
from typing import Final

from .builders import (
    CommandIndex,
    command_frame,
    resume_command,
    set_config_command,
    sync_time_command,
)
from .connections import ConnectionLog, Spoke
from .credentials import CredentialPins, Proof
from .dump import TrafficDump
from .events import (
    BatteryNotConnectedError,
    CredentialsMismatch,
    Disconnected,
    ForeignProtocol,
    ServerEvent,
)
from .frame import DEFAULT_MAX_PAYLOAD, Frame
from .messages import CommandReply, Login
from .recognize import Foreign, ForeignKind
from .redact import mask_serial
from .session import Session

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 7777
DEFAULT_MAX_CONNECTIONS: Final = 16
# Connections that have not identified themselves yet, per peer address: more are made
# room for by closing that address's oldest.
MAX_UNIDENTIFIED_PER_HOST: Final = 4
# A serial whose connection delivered a frame this recently is not taken over by a new
# connection: a battery that really reconnects has a silent old link.
TAKEOVER_AFTER: Final = 60.0
DEFAULT_IDLE_TIMEOUT: Final = 300.0
DEFAULT_COMMAND_TIMEOUT: Final = 30.0
# One warning per refused serial (or per burst of refused connections) per this period.
REFUSAL_LOG_INTERVAL: Final = 3600.0
# Refusals remembered for that purpose (bounded: serials are the peer's to invent).
MAX_LOGGED_REFUSALS: Final = 256
# Warnings about bad input per peer address per hour; the rest go to debug.
WARNINGS_PER_HOST: Final = 5
_FOREIGN_ADVICE: Final = {
    ForeignKind.TLS: (
        "If this is your battery, its firmware encrypts its cloud link and no longer "
        "uses the clear-text protocol this server reads."
    ),
    ForeignKind.MQTT: (
        "If this is your battery's network stick, it is set to MQTT, not the "
        "clear-text TCP protocol this server reads."
    ),
    ForeignKind.HTTP: "A web client (a browser or a scanner), not a battery.",
}


class AlphaServer:
    """Asyncio TCP server speaking the AlphaESS cloud protocol to many batteries."""

    def __init__(
        self,
        on_event: Callable[[ServerEvent], None],
        *,
        host: str | None = None,
        port: int = DEFAULT_PORT,
        allowlist: Collection[str] | None = None,
        admission: Callable[[str], bool] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        dump: TrafficDump | None = None,
        clock: Callable[[], datetime] | None = None,
        pins: CredentialPins | None = None,
    ) -> None:
        """Configure the server; nothing listens until :meth:`start`.

        ``host`` ``None`` or ``""`` listens on every interface. ``allowlist`` empty or
        ``None`` accepts any battery; ``admission``, if given, is asked about every
        serial the allowlist lets through (the owner's policy for new batteries; it
        logs its own refusals). ``max_connections`` may be changed at any time.
        ``clock`` gives the host time stamped on events. ``pins`` holds the
        credentials each battery proved at its first accepted login (kept in memory
        only unless the owner stores them).
        """
        self._on_event = on_event
        self.host = host or None
        self.port = port
        self.allowlist = frozenset(allowlist or ())
        self._admission = admission
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_payload = max_payload
        self.dump = dump
        self._clock = clock or (lambda: datetime.now(UTC))
        self.pins = pins if pins is not None else CredentialPins()
        self.connections = ConnectionLog()
        self._server: asyncio.Server | None = None
        self._sessions: dict[Session, asyncio.Task[None]] = {}
        self._by_serial: dict[str, Session] = {}
        self._configs: dict[str, Mapping[str, object]] = {}
        self._index = CommandIndex()
        self._refusals_logged: dict[str, float] = {}
        self._warnings: dict[str, tuple[float, int]] = {}
        self._foreign_reported: dict[tuple[str, ForeignKind], float] = {}

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` if the port is taken."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info(
            "Listening for AlphaESS batteries on %s:%s", self.host or "*", self.port
        )

    async def close(self) -> None:
        """Stop listening, drop every session and wait until all of them are gone."""
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.abort()
        tasks = list(self._sessions.values())
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        if self.dump is not None:
            await self.dump.aclose()

    def now(self) -> datetime:
        """Host time, as stamped on events."""
        return self._clock()

    @property
    def connected_serials(self) -> frozenset[str]:
        """Serials with an open connection."""
        return frozenset(self._by_serial)

    @property
    def connection_count(self) -> int:
        """Open connections, identified or not."""
        return len(self._sessions)

    # --- commands --------------------------------------------------------------

    async def send_command(
        self,
        serial: str,
        command: str,
        *parameters: str,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> CommandReply:
        """Send any server command to ``serial`` and return its ``(1,2,8)`` reply."""
        return await self._command(
            serial, lambda index: command_frame(index, command, *parameters), timeout
        )

    async def resume(
        self,
        serial: str,
        start: datetime,
        minutes: int,
        *,
        timeout: float = DEFAULT_COMMAND_TIMEOUT,
    ) -> CommandReply:
        """Ask for buffered history from ``start`` (battery clock) for ``minutes``."""
        return await self._command(
            serial, lambda index: resume_command(index, start, minutes), timeout
        )

    async def set_config(
        self, serial: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> CommandReply:
        """Make the battery request (and apply) its configuration again."""
        return await self._command(serial, set_config_command, timeout)

    async def sync_time(
        self, serial: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> CommandReply:
        """``SyncTime``, parameter format unknown; kept for experiments."""
        return await self._command(serial, sync_time_command, timeout)

    async def _command(
        self, serial: str, build: Callable[[str], Frame], timeout: float
    ) -> CommandReply:
        session = self._by_serial.get(serial)
        if session is None:
            raise BatteryNotConnectedError(
                f"battery {mask_serial(serial)} is not connected"
            )
        index = self._index.next()
        return await session.command(index, build(index), timeout)

    def hand_config(self, serial: str, settings: Mapping[str, object]) -> None:
        """Send ``settings`` in the answer to ``serial``'s next configuration request.

        The only way settings ever reach a battery; used once, then forgotten.
        """
        self._configs[serial] = dict(settings)

    def withdraw_config(self, serial: str) -> None:
        """Forget settings handed over but never asked for (a change that failed)."""
        self._configs.pop(serial, None)

    # --- used by sessions ------------------------------------------------------

    def take_config(self, serial: str | None) -> Mapping[str, object] | None:
        """Settings explicitly handed over for ``serial``, consumed on use."""
        return self._configs.pop(serial, None) if serial else None

    def admit(self, session: Session, serial: str, login: Login | None) -> bool:
        """Attach ``serial`` to ``session`` if policy allows and the serial is free.

        Who holds a serial (docs/protocol.md, "Who is on the port"): a connection that
        proves the pinned credentials takes it from any other at once; one with other
        credentials never takes it from one that proved them; otherwise the holder
        keeps it while it is alive (a frame within :data:`TAKEOVER_AFTER`).
        """
        record = session.record
        if self.allowlist and serial not in self.allowlist:
            record.spoke, record.detail = Spoke.REFUSED, "not on the accepted list"
            if self._should_log(serial):
                _LOGGER.warning(
                    "Refused battery %s from %s: not on the allowlist",
                    mask_serial(serial),
                    session.peer,
                )
            return False
        if self._admission is not None and not self._admission(serial):
            record.spoke, record.detail = Spoke.REFUSED, "waiting for the owner's yes"
            return False
        user, password = (login.serial, login.password) if login else (None, None)
        proof = self.pins.check(serial, user, password)
        if proof is Proof.OTHER:
            self._credentials_differ(session, serial)
        previous = self._by_serial.get(serial)
        if previous is not None and previous is not session:
            if not self._may_take(previous, proof, session.loop_time()):
                record.spoke = Spoke.REFUSED
                record.detail = f"{mask_serial(serial)} is held by {previous.peer}"
                self._refuse_second(session, serial, previous)
                return False
            # The battery holds one link; a new one after silence means the old is dead.
            _LOGGER.debug(
                "Battery %s reconnected; dropping its old link", mask_serial(serial)
            )
            previous.abort("closed: a newer connection took its serial")
        session.proof = proof
        record.spoke = Spoke.BATTERY
        record.detail = mask_serial(serial) + (
            "" if proof is Proof.PROVEN else f" ({proof.name.lower()} credentials)"
        )
        self._by_serial[serial] = session
        self.pins.accepted(serial, user, password)
        return True

    @staticmethod
    def _may_take(previous: Session, proof: Proof, now: float) -> bool:
        """Whether a connection showing ``proof`` may take a serial ``previous`` holds."""
        if proof is Proof.PROVEN:
            return True
        if previous.proof is Proof.PROVEN and proof is Proof.OTHER:
            return False
        if previous.proof is Proof.OTHER and proof is Proof.NONE:
            return True  # other credentials rank below none at all
        last = previous.last_frame_at
        return last is None or now - last >= TAKEOVER_AFTER

    def _refuse_second(self, session: Session, serial: str, previous: Session) -> None:
        if self._should_log(f"takeover {serial}"):
            _LOGGER.warning(
                "Refused a second connection for battery %s from %s: its "
                "connection from %s %s",
                mask_serial(serial),
                session.peer,
                previous.peer,
                "proved the battery's own credentials"
                if previous.proof is Proof.PROVEN
                else "is alive",
            )

    def _credentials_differ(self, session: Session, serial: str) -> None:
        if self._should_log(f"credentials {serial} {session.host}"):
            _LOGGER.warning(
                "A connection from %s logged in as battery %s with credentials other "
                "than the ones it first logged in with; it cannot take the battery "
                "over from a connection that proves them. If you reset the battery's "
                "network stick, accept its new credentials (in Home Assistant: "
                "Settings > System > Repairs)",
                session.host,
                mask_serial(serial),
            )
        self.emit(CredentialsMismatch(serial, self.now(), session.peer))

    def _should_log(self, key: str) -> bool:
        """One warning per key per hour: a refused peer retries every few seconds."""
        now = time.monotonic()
        last = self._refusals_logged.get(key)
        if last is not None and now - last <= REFUSAL_LOG_INTERVAL:
            return False
        if len(self._refusals_logged) >= MAX_LOGGED_REFUSALS:
            self._refusals_logged.clear()
        self._refusals_logged[key] = now
        return True

    def may_warn(self, host: str) -> bool:
        """Whether bad input from ``host`` may still be logged as a warning this hour."""
        now = time.monotonic()
        since, count = self._warnings.get(host, (now, 0))
        if now - since > REFUSAL_LOG_INTERVAL:
            since, count = now, 0
        if len(self._warnings) >= MAX_LOGGED_REFUSALS and host not in self._warnings:
            self._warnings.clear()
        self._warnings[host] = (since, count + 1)
        if count == WARNINGS_PER_HOST:
            _LOGGER.warning(
                "Further bad input from %s is logged at debug level for an hour", host
            )
        return count < WARNINGS_PER_HOST

    def foreign_protocol(self, session: Session, foreign: Foreign, data: bytes) -> None:
        """Say once an hour per address and protocol what a connection spoke instead.

        A device retrying its TLS handshake every few seconds gets one log line and
        one dump sample per hour, not one per attempt; every attempt is an event.
        """
        now = time.monotonic()
        key = (session.host, foreign.kind)
        fresh = now - self._foreign_reported.get(key, -REFUSAL_LOG_INTERVAL) >= (
            REFUSAL_LOG_INTERVAL
        )
        if fresh:
            if len(self._foreign_reported) >= MAX_LOGGED_REFUSALS:
                self._foreign_reported.clear()
            self._foreign_reported[key] = now
            _LOGGER.warning(
                "%s spoke %s, not the AlphaESS cloud protocol; closed. %s",
                session.host,
                foreign.describe(),
                _FOREIGN_ADVICE[foreign.kind],
            )
            self.dump_bytes(session, f"foreign protocol: {foreign.kind}", data, None)
        self.emit(ForeignProtocol(None, self.now(), session.peer, foreign, fresh))

    def emit(self, event: ServerEvent) -> None:
        """Hand an event to the owner; an owner's bug never kills a session."""
        try:
            self._on_event(event)
        except Exception:
            _LOGGER.exception("Error in the AlphaESS event handler")

    def dump_bytes(
        self,
        session: Session,
        reason: str,
        data: bytes,
        header: tuple[int, int, int] | None,
        serials: Collection[str] = (),
    ) -> None:
        """Copy bytes we could not decode to the unknown-traffic dump, redacted."""
        if self.dump is not None:
            serials = [s for s in (session.serial, *serials) if s]
            self.dump.write(
                peer=session.peer,
                reason=reason,
                data=data,
                header=header,
                serials=serials,
            )

    def session_ended(self, session: Session) -> None:
        """Forget a finished session and tell the owner which battery left."""
        self._sessions.pop(session, None)
        serial = session.serial
        if serial and self._by_serial.get(serial) is session:
            del self._by_serial[serial]
            _LOGGER.info("Battery %s disconnected", session.label)
            self.emit(Disconnected(serial, self.now(), session.peer))

    # --- accepting -------------------------------------------------------------

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = Session(self, reader, writer)
        if not self._make_room(session):
            self.connections.ended(
                session.record, "refused: connection limit", self.now()
            )
            if self._should_log(""):
                _LOGGER.warning(
                    "Refused connection from %s: %d batteries already connected "
                    "(raise the connection limit for more)",
                    session.peer,
                    len(self._sessions),
                )
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - start_server runs us in a task
        self._sessions[session] = task
        _LOGGER.debug("Connection from %s", session.peer)
        await session.run()

    def _make_room(self, newcomer: Session) -> bool:
        """Admit a new connection, evicting unidentified ones rather than refusing.

        Identified battery sessions are never displaced: only connections that have
        not named an admitted serial are closed, that peer address's oldest first
        when it holds too many, otherwise the oldest of all.
        """
        waiting = sorted(
            (s for s in self._sessions if not s.identified and not s.evicted),
            key=lambda s: s.opened_at,
        )
        same_host = [s for s in waiting if s.host == newcomer.host]
        if len(same_host) >= MAX_UNIDENTIFIED_PER_HOST:
            self._evict(same_host[0])
            waiting.remove(same_host[0])
        live = sum(1 for s in self._sessions if not s.evicted)
        if live < self.max_connections:
            return True
        if not waiting:
            return False
        self._evict(waiting[0])
        return True

    def _evict(self, session: Session) -> None:
        _LOGGER.debug("Closing unidentified connection %s to make room", session.peer)
        session.evict()
