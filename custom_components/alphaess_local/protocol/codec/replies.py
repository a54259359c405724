"""Frames the server sends: acknowledgements and commands.

Kept apart from the decoder because these are the only bytes we put on the wire, and a
wrong one can change how somebody's battery behaves (PROTOCOL.md, section 6).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
import itertools
import json
import time
from typing import Final

from .frame import Command, Frame, Kind
from .values import TIME_FORMAT

SUCCESS: Final = b'{"Status":"Success"}'
RESUME: Final = "Resume"
SET_CONFIG: Final = "SetConfig"
SYNC_TIME: Final = "SyncTime"


def encode_json(data: Mapping[str, object]) -> bytes:
    """Compact JSON, as the battery and the cloud write it."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def acknowledge(frame: Frame) -> Frame:
    """The reply the cloud gives to any frame: same command, kind 2, success."""
    return Frame(Kind.REPLY, frame.command, SUCCESS, frame.version)


def config_answer(settings: Mapping[str, object] | None = None) -> Frame:
    """Answer a configuration request; with no settings it changes nothing."""
    if not settings:
        return Frame(Kind.REPLY, Command.CONFIG, SUCCESS)
    return Frame(
        Kind.REPLY, Command.CONFIG, encode_json({"Status": "Success", **settings})
    )


class CommandIndex:
    """``CmdIndex`` values: decimal strings the battery echoes in its reply.

    Starts from the clock so indexes do not repeat across restarts of the server.
    """

    def __init__(self, start: int | None = None) -> None:
        """Start at ``start`` or at a clock-derived eight-digit number."""
        first = int(time.time()) % 90_000_000 + 10_000_000 if start is None else start
        self._counter: Iterator[int] = itertools.count(first)

    def next(self) -> str:
        """Return the next index."""
        return str(next(self._counter))


def command_frame(index: str, command: str, *parameters: str) -> Frame:
    """A ``(1,1,8)`` server command with ``Parameter1…n``."""
    data: dict[str, str] = {"CmdIndex": index, "Command": command}
    for number, value in enumerate(parameters, start=1):
        data[f"Parameter{number}"] = value
    return Frame(Kind.REQUEST, Command.SERVER_COMMAND, encode_json(data))


def resume_command(index: str, start: datetime, minutes: int) -> Frame:
    """Ask for buffered one-minute history from ``start`` (battery clock), ``minutes`` long."""
    return command_frame(index, RESUME, start.strftime(TIME_FORMAT), str(minutes))


def set_config_command(index: str) -> Frame:
    """Make the battery ask for its configuration again and apply the answer."""
    return command_frame(index, SET_CONFIG)


def sync_time_command(index: str) -> Frame:
    """``SyncTime`` without parameters: its format is unknown (PROTOCOL.md, section 7)."""
    return command_frame(index, SYNC_TIME)
