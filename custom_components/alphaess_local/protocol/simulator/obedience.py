"""How a simulated battery is told what to do: server commands and its settings.

A change of settings is a round trip, as on the real battery: the server sends
``SetConfig``, the battery answers it, asks for its configuration, takes the settings
the answer holds and reports them back in a system report. This module holds the
settings, what the battery heard and answered, and the knobs that make it disobey
(for tests of what the integration does when a battery ignores it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
import contextlib

from ..codec.frame import Command, Frame, Kind
from ..codec.messages import ServerCommand, parse_json_object
from ..codec.replies import encode_json
from ..codec.values import parse_float
from .model import BatteryModel

# One of the battery's own requests (ask for the configuration, send a report).
type Step = Callable[[], Awaitable[None]]

# The model attribute each SOC limit setting moves.
_LIMITS = (("BatHighCap", "max_soc"), ("BatUseCap", "min_soc"))


def _initial_settings() -> dict[str, object]:
    """Settings as the battery reports them (strings, as the real one sends them)."""
    return {
        "GridCharge": "false",
        "CtrDis": "false",
        "TimeChaF1": "0",
        "TimeChaE1": "0",
        "TimeChaF2": "0",
        "TimeChaE2": "0",
        "TimeDisF1": "0",
        "TimeDisE1": "0",
        "TimeDisF2": "0",
        "TimeDisE2": "0",
        "BatHighCap": "100",
        "BatUseCap": "10",
        "SetFeed": "100",
    }


class BatteryControl:
    """A battery's settings, and its side of the server's commands."""

    def __init__(self, model: BatteryModel) -> None:
        """Start from the factory settings; limits taken later move ``model``."""
        self.model = model
        self.settings = _initial_settings()
        # Every server command heard, and every configuration answer received.
        self.commands: list[ServerCommand] = []
        self.config_answers: list[dict[str, object]] = []
        # Test knobs: take SetConfig but keep the old settings (a battery that
        # ignores); server commands received but never answered.
        self.ignore_settings = False
        self.ignore_commands: set[str] = set()

    def heard_reply(self, frame: Frame) -> None:
        """Keep the server's answer to a configuration request."""
        if frame.command == Command.CONFIG:
            with contextlib.suppress(ValueError):
                self.config_answers.append(parse_json_object(frame.payload))

    def answer(self, command: ServerCommand) -> Frame | None:
        """Note ``command``; the reply to send, or None if it goes unanswered."""
        self.commands.append(command)
        if command.command in self.ignore_commands:
            return None
        reply = {
            "Command": command.command or "",
            "CmdIndex": command.index or "",
            "Status": "Success",
        }
        return Frame(Kind.REPLY, Command.SERVER_COMMAND, encode_json(reply))

    async def reconfigure(self, ask: Step, report: Step) -> None:
        """SetConfig: ask for the configuration, apply what it holds, report back."""
        answers = len(self.config_answers)
        await ask()
        if len(self.config_answers) > answers and not self.ignore_settings:
            self._take(self.config_answers[-1])
        await report()

    def written(self, values: Mapping[str, object]) -> None:
        """Settings a client wrote over Modbus, taken as an answer's (unless ignoring).

        The inverter applies a register write at once; the battery's settings, its
        system reports and the model's SOC limits follow as after ``SetConfig``.
        """
        if not self.ignore_settings:
            self._take(values)

    def _take(self, answer: Mapping[str, object]) -> None:
        """Keep the settings ``answer`` holds; the model follows the SOC limits."""
        for key in self.settings.keys() & answer.keys():
            self.settings[key] = answer[key]
        for key, attribute in _LIMITS:
            value = parse_float(self.settings.get(key))
            if value is not None:
                setattr(self.model, attribute, value)
