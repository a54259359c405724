"""The fake cloud: listens where ``www.alphaess.com:7777`` would, answers as it does.

Runs in whatever asyncio loop starts it (Home Assistant's, or the terminal tool's) and
hands every event to one callback. It never sends settings on its own (PROTOCOL.md,
section 6): a configuration request gets ``{"Status":"Success"}`` unless the owner has
explicitly handed it settings for that battery with :meth:`AlphaServer.hand_config`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Iterable, Mapping
import contextlib
from datetime import UTC, datetime
from functools import partial
import logging
import time
from typing import Final

from ..codec.frame import DEFAULT_MAX_PAYLOAD, Frame
from ..codec.messages import Login, ServerCommand
from ..codec.recognize import Foreign, ForeignKind
from ..relay import (
    COMMAND_TIMEOUT,
    CommandKind,
    RelayPolicy,
    RelayQueue,
    RelayStats,
    UpstreamLink,
    classify,
)
from .commands import ServerCommands
from .connections import ConnectionLog
from .credentials import CredentialPins, Proof
from .doorway import Doorway
from .dump import TrafficDump
from .events import (
    CloudSettings,
    Disconnected,
    ForeignProtocol,
    ServerEvent,
)
from .holders import SerialHolders
from .log_budget import MAX_LOGGED_REFUSALS, REFUSAL_LOG_INTERVAL, LogBudget
from .session import Session
from .tls_answer import TlsAnswer, advice

_LOGGER = logging.getLogger(__package__)

DEFAULT_PORT: Final = 7777
DEFAULT_MAX_CONNECTIONS: Final = 16
DEFAULT_IDLE_TIMEOUT: Final = 300.0
# Seconds :meth:`AlphaServer.close` gives what it stopped (sessions, relay links, the
# dump's last lines) to end before it cancels them, and then again to unwind. Each is
# told to stop first and normally ends within a loop turn; the bound is for whatever
# still waits (a peer that does not read, a cloud that does not answer, a slow disk).
CLOSE_TIMEOUT: Final = 5.0
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


class AlphaServer(ServerCommands):
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
        relay: RelayPolicy | None = None,
        ticks: Callable[[], float] | None = None,
        tls: TlsAnswer | None = None,
        connections: ConnectionLog | None = None,
    ) -> None:
        """Configure the server; nothing listens until :meth:`start`.

        ``host`` ``None`` or ``""`` listens on every interface. ``allowlist`` empty or
        ``None`` accepts any battery; ``admission``, if given, is asked about every
        serial the allowlist lets through (the owner's policy for new batteries; it
        logs its own refusals). ``max_connections`` may be changed at any time.
        ``clock`` gives the host time stamped on events. ``pins`` holds the
        credentials each battery proved at its first accepted login (kept in memory
        only unless the owner stores them). ``relay``, off unless given, forwards
        what identified batteries send to the vendor cloud (``relay.py``). ``ticks``
        is the monotonic clock, in seconds, of every rule that counts time (row and
        log budgets, the door's grace, churn and rate, life signs): tests inject one,
        so a slow or loaded machine cannot move a rule. Deadlines (idle, first frame,
        write) are the event loop's own timers. ``tls``, if given, answers a TLS
        ClientHello with its certificate (``tls_answer.py``); without it such a
        connection is named and closed. ``connections``, if given, is a log kept from
        an earlier server (Home Assistant's options reload), added to rather than begun.
        """
        super().__init__()
        self._on_event = on_event
        self.host = host or None
        self.port = port
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_payload = max_payload
        self.dump = dump
        self._clock = clock or (lambda: datetime.now(UTC))
        self.ticks: Callable[[], float] = ticks or time.monotonic
        self.close_timeout = CLOSE_TIMEOUT
        self.connections = connections if connections is not None else ConnectionLog()
        self.relay = relay
        self.tls = tls
        self.relay_stats: dict[str, RelayStats] = {}
        self._links: dict[Session, UpstreamLink] = {}
        # Per serial: frames not yet with the cloud, kept across the battery's links.
        self._relay_queues: dict[str, RelayQueue] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._budget = LogBudget(self.ticks)
        # Who gets a slot (``doorway.py``); who holds a serial (``holders.py``).
        self.doorway = Doorway(self._budget)
        self.holders = SerialHolders(
            allowlist=allowlist,
            admission=admission,
            pins=pins if pins is not None else CredentialPins(),
            budget=self._budget,
            emit=self.emit,
            now=self.now,
            capacity=lambda: self.max_connections,
        )
        self._server: asyncio.Server | None = None
        self._sessions: dict[Session, asyncio.Task[None]] = {}
        self._foreign_reported: dict[tuple[str, ForeignKind, str], float] = {}

    # --- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; raises ``OSError`` if the port is taken.

        Cancellation-safe: ``start_server`` binds the socket before its last await,
        so a cancel there (Home Assistant stopping during a reload) would leave a
        listener nobody owns, holding the port. It runs shielded, and a cancelled
        start closes what it started.
        """
        starting = asyncio.ensure_future(
            asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        )
        try:
            self._server = await asyncio.shield(starting)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                (await starting).close()
            raise
        self.port = self._server.sockets[0].getsockname()[1]
        _LOGGER.info(
            "Listening for AlphaESS batteries on %s:%s", self.host or "*", self.port
        )

    async def close(self) -> None:
        """Stop listening, drop every session and wait until all of them are gone.

        Bounded whatever a session awaits: each is aborted (which ends a budget wait,
        a drain or a command at once); one still running after ``close_timeout`` is
        cancelled. Relay links and the dump get the same bound.
        """
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.abort()
        self.stop_waiting_for_the_cloud()
        await self._wind_down(self._sessions.values(), "connection")
        if self._server is not None:
            # Since Python 3.12 this also waits for the connections it accepted,
            # which are all aborted by now.
            try:
                async with asyncio.timeout(self.close_timeout):
                    await self._server.wait_closed()
            except TimeoutError:
                _LOGGER.warning(
                    "The listener did not close within %.0f s", self.close_timeout
                )
            self._server = None
        await self._wind_down(self._closing, "relay link")
        self._budget.flush()  # what it still owes the log (summaries of refusals)
        if self.dump is not None:
            await self._wind_down(
                [asyncio.ensure_future(self.dump.aclose())], "traffic dump"
            )

    async def _wind_down(
        self, tasks: Iterable[asyncio.Future[None]], what: str
    ) -> None:
        """Wait ``close_timeout`` for ``tasks``; cancel the rest and wait as long again."""
        tasks = list(tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.close_timeout)
        if not pending:
            return
        _LOGGER.warning(
            "%d %s task(s) still running %.0f s after the server was closed; cancelled",
            len(pending),
            what,
            self.close_timeout,
        )
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=self.close_timeout)

    def now(self) -> datetime:
        """Host time, as stamped on events."""
        return self._clock()

    @property
    def connected_serials(self) -> frozenset[str]:
        """Serials with an open connection."""
        return frozenset(self.holders.by_serial)

    @property
    def allowlist(self) -> frozenset[str]:
        """Serials accepted (empty: any the admission policy lets through)."""
        return self.holders.allowlist

    @property
    def pins(self) -> CredentialPins:
        """The credentials each battery proved at its first accepted login."""
        return self.holders.pins

    @pins.setter
    def pins(self, pins: CredentialPins) -> None:
        self.holders.pins = pins

    @property
    def connection_count(self) -> int:
        """Open connections, identified or not."""
        return len(self._sessions)

    # --- used by sessions ------------------------------------------------------

    def admit(self, session: Session, serial: str, login: Login | None) -> bool:
        """Attach ``serial`` to ``session`` if policy allows (``holders.py``)."""
        if not self.holders.admit(session, serial, login):
            return False
        self._battery_seen(session)  # a login after the battery's data may prove it
        return True

    def delivered(self, session: Session) -> None:
        """``session`` sent its battery's data for the first time (``holders.py``)."""
        self.holders.delivered(session)
        self._battery_seen(session)

    def _battery_seen(self, session: Session) -> None:
        """Keep the address a reserved slot at the door once the battery is proven.

        Proven: its data, on a connection that logged in with the pinned credentials
        (or pinned them). Anything less, a LAN device can do, and a reserved slot
        exempts an address from the door's rate limit and grace rules.
        """
        if session.has_delivered and session.proof is Proof.PROVEN:
            self.doorway.battery_seen(session.host)

    def may_warn(self, host: str) -> bool:
        """Whether bad input from ``host`` may still be logged as a warning this hour."""
        return self._budget.may_warn(host)

    def foreign_protocol(self, session: Session, foreign: Foreign, data: bytes) -> None:
        """Say once an hour per address and protocol what a connection spoke instead.

        A device retrying its TLS handshake every few seconds gets one log line and
        one dump sample per hour, not one per attempt; every attempt is an event.
        """
        now = self.ticks()
        key = (session.host, foreign.kind, foreign.details.get("tls", ""))
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
                advice(foreign) or _FOREIGN_ADVICE[foreign.kind],
            )
            self.dump_bytes(session, f"foreign protocol: {foreign.kind}", data, None)
        self.emit(ForeignProtocol(None, self.now(), session.peer, foreign, fresh))

    def relay_frame(self, session: Session, frame: Frame) -> None:
        """Queue a frame of an identified battery for the cloud, if the relay is on.

        Called after the frame was acknowledged here: the battery never waits for it.
        The link is opened with the battery's first frame after it identified itself.
        """
        serial = session.serial
        if self.relay is None or serial is None:
            return
        link = self._links.get(session)
        if link is None:
            stats = self.relay_stats.setdefault(serial, RelayStats())
            link = self._links[session] = UpstreamLink(
                self.relay,
                serial,
                stats,
                partial(self._cloud_command, serial),
                own_port=self.port,
                queue=self._relay_queues.setdefault(
                    serial,
                    RelayQueue(self.relay.queue_frames, self.relay.queue_bytes),
                ),
                on_config=partial(self._cloud_settings, session),
            )
            link.start()
        link.forward(frame.encode())

    def _cloud_settings(self, session: Session, settings: Mapping[str, object]) -> None:
        """The cloud answered a configuration request: hand it on if one was awaited."""
        serial = session.serial
        if serial and self.cloud_config(serial, settings):
            self.emit(CloudSettings(serial, self.now(), session.peer, dict(settings)))

    async def _cloud_command(self, serial: str, command: ServerCommand) -> str | None:
        """Pass a command the firewall let through; the battery's status comes back."""
        if classify(command.command) is CommandKind.SET_CONFIG:
            self.expect_cloud_config(serial)
        reply = await self.send_command(
            serial, command.command or "", *command.parameters, timeout=COMMAND_TIMEOUT
        )
        return reply.status

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
        if (link := self._links.pop(session, None)) is not None:
            closing = asyncio.get_running_loop().create_task(link.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        serial = session.serial
        if serial and self.holders.release(session):
            _LOGGER.info("Battery %s disconnected", session.label)
            self.emit(Disconnected(serial, self.now(), session.peer))

    # --- accepting -------------------------------------------------------------

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        session = Session(self, reader, writer)
        refused = self.doorway.admit(session, self._sessions, self.max_connections)
        if refused is not None:
            self.connections.ended(session.record, refused, self.now())
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - start_server runs us in a task
        self._sessions[session] = task
        _LOGGER.debug("Connection from %s", session.peer)
        await session.run()
