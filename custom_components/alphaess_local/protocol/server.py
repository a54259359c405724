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
    RESUME,
    SET_CONFIG,
    SYNC_TIME,
    CommandIndex,
    command_frame,
)
from .dump import TrafficDump
from .events import BatteryNotConnectedError, Disconnected, ServerEvent
from .frame import DEFAULT_MAX_PAYLOAD
from .messages import CommandReply
from .redact import mask_serial
from .session import Session
from .values import TIME_FORMAT

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 7777
DEFAULT_MAX_CONNECTIONS: Final = 16
DEFAULT_IDLE_TIMEOUT: Final = 300.0
DEFAULT_COMMAND_TIMEOUT: Final = 30.0
# One warning per refused serial (or per burst of refused connections) per this period.
REFUSAL_LOG_INTERVAL: Final = 3600.0


class AlphaServer:
    """Asyncio TCP server speaking the AlphaESS cloud protocol to many batteries."""

    def __init__(
        self,
        on_event: Callable[[ServerEvent], None],
        *,
        host: str | None = None,
        port: int = DEFAULT_PORT,
        allowlist: Collection[str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        dump: TrafficDump | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Configure the server; nothing listens until :meth:`start`.

        ``host`` ``None`` or ``""`` listens on every interface. ``allowlist`` empty or
        ``None`` accepts any battery. ``clock`` gives the host time stamped on events.
        """
        self._on_event = on_event
        self.host = host or None
        self.port = port
        self.allowlist = frozenset(allowlist or ())
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_payload = max_payload
        self.dump = dump
        self.now = clock or (lambda: datetime.now(UTC))
        self._server: asyncio.Server | None = None
        self._sessions: dict[Session, asyncio.Task[None]] = {}
        self._by_serial: dict[str, Session] = {}
        self._configs: dict[str, Mapping[str, object]] = {}
        self._index = CommandIndex()
        self._refusals_logged: dict[str, float] = {}

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
        """Send a server command to ``serial`` and return its ``(1,2,8)`` reply."""
        session = self._by_serial.get(serial)
        if session is None:
            raise BatteryNotConnectedError(
                f"battery {mask_serial(serial)} is not connected"
            )
        index = self._index.next()
        return await session.command(
            index, command_frame(index, command, *parameters), timeout
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
        return await self.send_command(
            serial, RESUME, start.strftime(TIME_FORMAT), str(minutes), timeout=timeout
        )

    async def set_config(
        self, serial: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> CommandReply:
        """Make the battery request (and apply) its configuration again."""
        return await self.send_command(serial, SET_CONFIG, timeout=timeout)

    async def sync_time(
        self, serial: str, *, timeout: float = DEFAULT_COMMAND_TIMEOUT
    ) -> CommandReply:
        """``SyncTime``, parameter format unknown; kept for experiments."""
        return await self.send_command(serial, SYNC_TIME, timeout=timeout)

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

    def admit(self, session: Session, serial: str) -> bool:
        """Attach ``serial`` to ``session`` unless the allowlist refuses it."""
        if self.allowlist and serial not in self.allowlist:
            last = self._refusals_logged.get(serial)
            if last is None or time.monotonic() - last > REFUSAL_LOG_INTERVAL:
                self._refusals_logged[serial] = time.monotonic()
                _LOGGER.warning(
                    "Refused battery %s from %s: not on the allowlist",
                    mask_serial(serial),
                    session.peer,
                )
            return False
        previous = self._by_serial.get(serial)
        if previous is not None and previous is not session:
            # The battery holds one link; a new one means the old one is dead.
            _LOGGER.debug(
                "Battery %s reconnected; dropping its old link", session.label
            )
            previous.abort()
        self._by_serial[serial] = session
        return True

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
    ) -> None:
        """Copy bytes we could not decode to the unknown-traffic dump, redacted."""
        if self.dump is not None:
            serials = [s for s in (session.serial,) if s]
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
        if len(self._sessions) >= self.max_connections:
            last = self._refusals_logged.get("")
            if last is None or time.monotonic() - last > REFUSAL_LOG_INTERVAL:
                self._refusals_logged[""] = time.monotonic()
                _LOGGER.warning(
                    "Refused connection from %s: %d connections already open",
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
