"""A connection's commands waiting for their replies, matched by ``CmdIndex``.

The battery echoes each command's index in its reply; a reply nobody waits for (late,
or for an index we never sent) is ignored, and a connection that ends fails every
command still waiting at once rather than at its timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from ..codec.messages import CommandReply
from .events import BatteryNotConnectedError, CommandTimeoutError


class PendingCommands:
    """One connection's commands waiting for their replies, by ``CmdIndex``."""

    def __init__(self) -> None:
        """Nothing waits yet."""
        self._waiting: dict[str, asyncio.Future[CommandReply]] = {}

    async def wait(
        self, index: str, send: Awaitable[None], timeout: float, label: str
    ) -> CommandReply:
        """Send (``send``) and wait for the reply echoing ``index``."""
        future: asyncio.Future[CommandReply] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting[index] = future
        try:
            await send
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise CommandTimeoutError(
                f"battery {label} did not answer command {index} in {timeout:g} s"
            ) from None
        except (ConnectionError, OSError) as err:
            raise BatteryNotConnectedError(
                f"battery {label} disconnected: {err}"
            ) from None
        finally:
            self._waiting.pop(index, None)

    def answered(self, reply: CommandReply) -> None:
        """A reply came: hand it to whoever waits for its index (if anyone)."""
        future = self._waiting.get(reply.index or "")
        if future is not None and not future.done():
            future.set_result(reply)

    def fail_all(self, label: str) -> None:
        """The connection ended: every command still waiting fails now."""
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(
                    BatteryNotConnectedError(f"battery {label} disconnected")
                )
