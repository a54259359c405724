"""The server's commands to a battery, and the settings it hands over on request.

Every command goes to the connection holding the battery's serial, with an index the
reply must echo; settings reach a battery only in the answer to its own configuration
request, and only when the owner handed them over for that battery
(docs/protocol.md, "Changing settings").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from .builders import (
    CommandIndex,
    command_frame,
    resume_command,
    set_config_command,
    sync_time_command,
)
from .events import BatteryNotConnectedError
from .frame import Frame
from .holders import SerialHolders
from .messages import CommandReply
from .redact import mask_serial

DEFAULT_COMMAND_TIMEOUT: Final = 30.0


class ServerCommands:
    """Commands and handed-over settings; :class:`AlphaServer` is one of these."""

    holders: SerialHolders

    def __init__(self) -> None:
        """No command sent, no settings handed over."""
        self._configs: dict[str, Mapping[str, object]] = {}
        self._index = CommandIndex()

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
