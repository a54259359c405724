"""The server's commands to a battery, and the settings it hands over on request.

Every command goes to the connection holding the battery's serial, with an index the
reply must echo; settings reach a battery only in the answer to its own configuration
request, and only when the owner handed them over for that battery
(docs/protocol.md, "Changing settings").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from ..codec.frame import Frame
from ..codec.messages import CommandReply
from ..codec.redact import mask_serial
from ..codec.replies import (
    CommandIndex,
    command_frame,
    resume_command,
    set_config_command,
    sync_time_command,
)
from .events import BatteryNotConnectedError
from .holders import SerialHolders

DEFAULT_COMMAND_TIMEOUT: Final = 30.0
# How long a configuration answer waits for the cloud's, after a passed SetConfig.
CLOUD_CONFIG_WAIT: Final = 10.0


class ServerCommands:
    """Commands and handed-over settings; :class:`AlphaServer` is one of these."""

    holders: SerialHolders
    # A configuration answer holds window ends as whole hours (no minutes).
    minutes: Final = False

    def __init__(self) -> None:
        """No command sent, no settings handed over."""
        self._configs: dict[str, Mapping[str, object]] = {}
        self._index = CommandIndex()
        # Per serial, the cloud's answer to the configuration request a SetConfig
        # the owner let through will cause (relay.py).
        self._cloud_configs: dict[str, asyncio.Future[Mapping[str, object]]] = {}

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
        session = self.holders.by_serial.get(serial)
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

    def take_config(self, serial: str | None) -> Mapping[str, object] | None:
        """Settings explicitly handed over for ``serial``, consumed on use."""
        return self._configs.pop(serial, None) if serial else None

    async def config_for(self, serial: str | None) -> Mapping[str, object] | None:
        """Settings for ``serial``'s configuration answer: handed over, or the cloud's.

        Only after a cloud ``SetConfig`` the owner let through does the answer wait,
        at most :data:`CLOUD_CONFIG_WAIT`, for the cloud's answer to the same request;
        without it the battery gets ours, which changes nothing.
        """
        handed = self.take_config(serial)
        if handed is not None or serial is None:
            return handed
        waiting = self._cloud_configs.get(serial)
        if waiting is None:
            return None
        try:
            async with asyncio.timeout(CLOUD_CONFIG_WAIT):
                return await asyncio.shield(waiting)
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if waiting.cancelled() and not (task and task.cancelling()):
                return None  # the server is closing: stop_waiting_for_the_cloud()
            raise
        finally:
            if self._cloud_configs.get(serial) is waiting:
                del self._cloud_configs[serial]

    def stop_waiting_for_the_cloud(self) -> None:
        """The server closes: answers waiting for the cloud's settings stop waiting."""
        for waiting in self._cloud_configs.values():
            waiting.cancel()

    def expect_cloud_config(self, serial: str) -> None:
        """A cloud ``SetConfig`` goes to the battery: its next request is the cloud's."""
        previous = self._cloud_configs.get(serial)
        if previous is None or previous.done():
            self._cloud_configs[serial] = asyncio.get_running_loop().create_future()

    def cloud_config(self, serial: str, settings: Mapping[str, object]) -> bool:
        """The cloud answered a configuration request; False if none was awaited."""
        waiting = self._cloud_configs.get(serial)
        if waiting is None or waiting.done():
            return False
        waiting.set_result(settings)
        return True
