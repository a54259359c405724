"""The simulated battery's side of the wire: connect, send, wait for acks, reconnect.

It exists so that the battery itself says only *what* it sends and when; how a frame
reaches the server, how long the battery waits for its acknowledgement and what it does
when the link drops are the same for every request, and live here.

Every data frame waits for its acknowledgement and an unanswered one drops the link, as
on the real battery. The heartbeat does not: a real battery streamed for months against
the original home fake server, which never answered it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
import contextlib
import logging
import ssl
from typing import Final

from ..codec.frame import Command, Frame, FrameDecoder, Kind
from ..codec.replies import encode_json

# The simulator logs under its package's name (it was one module of that name).
_LOGGER = logging.getLogger(__package__)

ACK_TIMEOUT: Final = 10.0
RECONNECT_DELAY: Final = 5.0
# Sent without waiting for an answer (see the module docstring); a reply is ignored.
UNACKNOWLEDGED: Final = frozenset({Command.HEARTBEAT})

# A request's body: JSON fields, raw bytes, nothing, or a function that gives the
# fields when the frame is sent (a timed record, stamped then).
type Payload = Mapping[str, object] | bytes | Callable[[], Mapping[str, object]] | None
# One connection's conversation, run from connect to drop.
type Conversation = Callable[[], Coroutine[object, object, None]]


class BatteryLink:
    """One battery's connection to a server, made again after every drop."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        speed: float,
        on_reply: Callable[[Frame], None],
        on_command: Callable[[Frame], None],
    ) -> None:
        """Prepare the link; ``on_reply`` sees each acknowledgement before its waiter.

        ``on_command`` is handed every frame the server sends of its own accord.
        """
        self.host = host
        self.port = port
        self.speed = speed
        self.ack_timeout = ACK_TIMEOUT
        self.connected = asyncio.Event()
        self.online = asyncio.Event()
        self.online.set()
        self.frames_sent = 0
        # A firmware that encrypts its cloud link (tests of ``tls_answer.py``).
        self.tls: ssl.SSLContext | None = None
        self._on_reply = on_reply
        self._on_command = on_command
        self._writer: asyncio.StreamWriter | None = None
        self._acks: dict[int, asyncio.Queue[Frame]] = {}
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # Whether the last attempt reached the server (None: no attempt yet); only a
        # change is worth an info line, the retries in between are debug.
        self._reached: bool | None = None

    async def run(self, converse: Conversation, *, reconnect: bool = True) -> None:
        """Connect, run sessions, reconnect after drops (until cancelled).

        The server may be absent for a long time (``scripts/develop`` starts the battery
        before the integration is added), so only the first failure is logged at info
        and the retries after it at debug, until a connection succeeds again.
        """
        while True:
            await self.online.wait()
            try:
                await self.run_session(converse)
            except (ConnectionError, OSError, TimeoutError) as err:
                self._link_down(err)
            if not reconnect:
                return
            await asyncio.sleep(RECONNECT_DELAY / self.speed)

    async def run_session(self, converse: Conversation) -> None:
        """One connection, from connect to drop."""
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self.tls,
            server_hostname="www.alphaess.com" if self.tls else None,
        )
        if not self._reached:
            _LOGGER.info("Simulated battery connected to %s:%s", self.host, self.port)
        self._reached = True
        self._writer = writer
        self._acks = {}
        reader_task = asyncio.create_task(self._read(reader))
        converse_task = asyncio.create_task(converse())
        try:
            # Whichever ends first (link lost, or a request unanswered) ends the session.
            done, _ = await asyncio.wait(
                {reader_task, converse_task}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                task.result()
        finally:
            self.connected.clear()
            self._writer = None
            pending = {reader_task, converse_task, *self._tasks}
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    def _link_down(self, err: BaseException) -> None:
        reason = str(err) or type(err).__name__
        if self._reached is False:
            _LOGGER.debug("Simulated battery link still down: %s", reason)
            return
        self._reached = False
        _LOGGER.info(
            "Simulated battery link down: %s (retrying every %g s)",
            reason,
            RECONNECT_DELAY / self.speed,
        )

    def drop(self) -> None:
        """Cut the link abruptly, as a Wi-Fi outage would."""
        if self._writer is not None:
            self._writer.transport.abort()

    def go_offline(self) -> None:
        """Lose the link and stay away until :meth:`go_online`."""
        self.online.clear()
        self.drop()

    def go_online(self) -> None:
        """Reconnect on the next attempt."""
        self.online.set()

    async def request(self, command: Command, payload: Payload) -> None:
        """Send a request and wait for its acknowledgement, as the battery does.

        A timed record is passed as a function: it is stamped when it is sent, not
        when it started waiting behind another request's acknowledgement. Commands in
        ``UNACKNOWLEDGED`` are only sent; a missing answer to one never drops the link.
        """
        async with self._send_lock:
            if callable(payload):
                payload = payload()
            if isinstance(payload, bytes):
                body = payload
            else:
                body = b"" if payload is None else encode_json(payload)
            frame = Frame(Kind.REQUEST, command, body)
            if command in UNACKNOWLEDGED:
                self.write(frame)
                return
            queue = self._acks.setdefault(command, asyncio.Queue())
            self.write(frame)
            try:
                async with asyncio.timeout(self.ack_timeout):
                    await queue.get()
            except TimeoutError as err:
                # The bare TimeoutError says nothing in the link-down line.
                raise TimeoutError(
                    f"no acknowledgement of {command.name.lower()} "
                    f"within {self.ack_timeout:g} s"
                ) from err

    def write(self, frame: Frame) -> None:
        """Send ``frame`` now, waiting for nothing."""
        if self._writer is None:
            raise ConnectionResetError("not connected")
        self._writer.write(frame.encode())
        self.frames_sent += 1

    def spawn(self, work: Coroutine[object, object, None]) -> None:
        """Run ``work`` beside the conversation; it ends with the connection."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            for frame in decoder.feed(data):
                if not isinstance(frame, Frame):
                    continue
                if frame.kind == Kind.REPLY:
                    if frame.command in UNACKNOWLEDGED:
                        continue
                    self._on_reply(frame)
                    self._acks.setdefault(frame.command, asyncio.Queue()).put_nowait(
                        frame
                    )
                elif frame.command == Command.SERVER_COMMAND:
                    self._on_command(frame)
        raise ConnectionResetError("server closed the connection")
