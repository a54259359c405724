"""One battery connection: read, acknowledge, deliver, until it ends.

Each session is its own task, so a slow or hostile peer only ever stalls itself: reads
have the idle deadline, writes have a drain deadline, and the decoder's buffer is capped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

from .builders import acknowledge, config_answer
from .events import (
    BatteryNotConnectedError,
    CommandTimeoutError,
    Corrupted,
    Received,
)
from .frame import Command, CorruptBytes, CorruptReason, Frame, FrameDecoder, Kind
from .messages import (
    CommandReply,
    Undecodable,
    UnknownMessage,
    decode_message,
    message_serial,
)
from .redact import mask_serial

if TYPE_CHECKING:
    from .server import AlphaServer

_LOGGER = logging.getLogger(__name__)

READ_SIZE: Final = 64 * 1024
WRITE_TIMEOUT: Final = 30.0
# Warnings about one connection's bad input stop after this many; the rest go to debug.
WARNINGS_PER_SESSION: Final = 5


class Session:
    """State of one TCP connection from a battery (or from anything else)."""

    def __init__(
        self,
        server: AlphaServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        """Wrap an accepted connection."""
        self._server = server
        self._reader = reader
        self._writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.serial: str | None = None
        self.frames = 0
        self._warnings = 0
        self._pending: dict[str, asyncio.Future[CommandReply]] = {}
        self._abort = False

    @property
    def label(self) -> str:
        """How logs name this connection: masked serial, or the peer until known."""
        return mask_serial(self.serial) if self.serial else self.peer

    async def run(self) -> None:
        """Serve the connection until the peer leaves, idles out or is refused."""
        loop = asyncio.get_running_loop()
        decoder = FrameDecoder(self._server.max_payload)
        idle = self._server.idle_timeout
        deadline = loop.time() + idle
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await self._reader.read(READ_SIZE)
                except TimeoutError:
                    _LOGGER.info(
                        "Closing %s: no complete frame for %.0f s", self.label, idle
                    )
                    break
                if not data:
                    break
                for item in decoder.feed(data):
                    if isinstance(item, CorruptBytes):
                        await self._corrupt(item)
                        continue
                    deadline = loop.time() + idle
                    if not await self._frame(item):
                        return
        except (ConnectionError, OSError) as err:
            _LOGGER.debug("Connection %s ended: %s", self.label, err)
        finally:
            await self._finish()

    def abort(self) -> None:
        """Drop the connection at once (server close, or a newer link took over)."""
        self._abort = True
        self._writer.transport.abort()

    async def command(self, index: str, frame: Frame, timeout: float) -> CommandReply:
        """Send a ``(1,1,8)`` command and wait for the reply echoing ``index``."""
        future: asyncio.Future[CommandReply] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[index] = future
        try:
            await self._send(frame)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise CommandTimeoutError(
                f"battery {self.label} did not answer command {index} in {timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as err:
            raise BatteryNotConnectedError(
                f"battery {self.label} disconnected: {err}"
            ) from None
        finally:
            self._pending.pop(index, None)

    async def _frame(self, frame: Frame) -> bool:
        """Handle one frame; return False when the connection must end."""
        self.frames += 1
        message = decode_message(frame)
        serial = message_serial(message)
        if serial and serial != self.serial:
            if not self._server.admit(self, serial):
                return False
            self.serial = serial
        if frame.kind == Kind.REQUEST:
            if frame.command == Command.CONFIG:
                reply = config_answer(self._server.take_config(self.serial))
            else:
                reply = acknowledge(frame)
            await self._send(reply)
        if isinstance(message, CommandReply) and message.index:
            future = self._pending.get(message.index)
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, Undecodable | UnknownMessage):
            reason = (
                f"undecodable: {message.reason}"
                if isinstance(message, Undecodable)
                else "unknown command"
            )
            self._warn(
                "Battery %s sent %s frame %s (%d bytes); acknowledged and dumped",
                self.label,
                reason,
                frame.header,
                len(frame.payload),
            )
            self._server.dump_bytes(self, reason, frame.payload, frame.header)
        self._server.emit(Received(self.serial, self._server.now(), self.peer, message))
        return True

    async def _corrupt(self, corrupt: CorruptBytes) -> None:
        data = corrupt.data
        self._warn(
            "Connection %s sent %d bytes that are not a valid frame (%s)",
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
        self._writer.write(frame.encode())
        try:
            async with asyncio.timeout(WRITE_TIMEOUT):
                await self._writer.drain()
        except TimeoutError:
            _LOGGER.warning(
                "Closing %s: it has not read our replies for %.0f s",
                self.label,
                WRITE_TIMEOUT,
            )
            self.abort()
            raise ConnectionResetError("peer does not read") from None

    def _warn(self, msg: str, *args: object) -> None:
        self._warnings += 1
        if self._warnings <= WARNINGS_PER_SESSION:
            _LOGGER.warning(msg, *args)
            if self._warnings == WARNINGS_PER_SESSION:
                _LOGGER.warning(
                    "Further bad input from %s is logged at debug level", self.label
                )
        else:
            _LOGGER.debug(msg, *args)

    async def _finish(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(
                    BatteryNotConnectedError(f"battery {self.label} disconnected")
                )
        if self._abort:
            self._writer.transport.abort()
        else:
            self._writer.close()
        try:
            async with asyncio.timeout(1):
                await self._writer.wait_closed()
        except (TimeoutError, ConnectionError, OSError):
            self._writer.transport.abort()
        self._server.session_ended(self)
