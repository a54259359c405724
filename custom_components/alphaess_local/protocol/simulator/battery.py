"""The simulated battery: what it is, and in which order it talks.

Session order (PROTOCOL.md, section 2): login (first connection only), heartbeat, event
log, a short pause in which the server may send ``Resume``, configuration request, then
realtime pushes every 10 s, a detailed record every 5 min and a system report every
30 min. After a dropped link it reconnects *without* logging in again, and it keeps
recording one-minute rows while offline so a ``Resume`` can fetch them.

``speed`` runs the battery's clock that many times faster than the host's and divides
every interval by it, so tests and demos see hours in seconds.

The battery composes its parts, one concept each: the link (the wire), the history
(rows kept for ``Resume``), the control (settings and server commands); what it
measures comes from the model and is written as :mod:`.readings` says.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
import time
from typing import Final, Self, cast, overload

from ..codec.frame import Command, Frame
from ..codec.messages import ServerCommand, decode_message
from .history import History, resume_window
from .link import BatteryLink, Payload
from .model import BatteryModel, Sample
from .obedience import BatteryControl
from .readings import (
    Identity,
    detailed_record,
    event_log,
    login_values,
    realtime_values,
    system_report,
)

REALTIME_INTERVAL: Final = 10.0
DETAIL_INTERVAL: Final = 300.0
REPORT_INTERVAL: Final = 1800.0


class Forwarded[T]:
    """An attribute one of the battery's parts keeps, under the battery's name.

    Tests and tools read and set ``battery.settings``, ``battery.ack_timeout`` and the
    like; each lives with the part it belongs to, and the battery passes it through.
    """

    def __init__(self, part: str) -> None:
        """Forward to the battery's attribute ``part``."""
        self._part = part
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        """Take the name the battery gives it."""
        self._name = name

    @overload
    def __get__(self, battery: None, owner: type) -> Self: ...
    @overload
    def __get__(self, battery: object, owner: type | None = None) -> T: ...
    def __get__(self, battery: object, owner: type | None = None) -> Self | T:
        """The part's value (the descriptor itself on the class)."""
        if battery is None:
            return self
        return cast(T, getattr(getattr(battery, self._part), self._name))

    def __set__(self, battery: object, value: T) -> None:
        """Set the part's value."""
        setattr(getattr(battery, self._part), self._name, value)


class SimulatedBattery:
    """Connects to a server and behaves like the battery in PROTOCOL.md."""

    ack_timeout = Forwarded[float]("link")
    connected = Forwarded[asyncio.Event]("link")
    online = Forwarded[asyncio.Event]("link")
    frames_sent = Forwarded[int]("link")
    settings = Forwarded[dict[str, object]]("control")
    commands = Forwarded[list[ServerCommand]]("control")
    config_answers = Forwarded[list[dict[str, object]]]("control")
    ignore_settings = Forwarded[bool]("control")
    ignore_commands = Forwarded[set[str]]("control")
    upload_limit = Forwarded[int | None]("history")

    def __init__(
        self,
        host: str,
        port: int,
        *,
        identity: Identity | None = None,
        speed: float = 1.0,
        start: datetime | None = None,
        clock: Callable[[], datetime] | None = None,
        model: BatteryModel | None = None,
    ) -> None:
        """Prepare a battery; ``clock`` (battery time) overrides ``speed`` for tests."""
        self.host = host
        self.port = port
        self.identity = identity or Identity()
        self.speed = speed
        begin = start or datetime.now().replace(microsecond=0)  # noqa: DTZ005 - battery clock is naive local
        origin = time.monotonic()
        self.clock = clock or (
            lambda: begin + timedelta(seconds=(time.monotonic() - origin) * speed)
        )
        self.model = model or BatteryModel(begin)
        self.logged_in = False
        self.control = BatteryControl(self.model)
        self.history = History(self.model, self.identity.serial)
        self.link = BatteryLink(
            host,
            port,
            speed=speed,
            on_reply=self.control.heard_reply,
            on_command=self._obey,
        )

    # --- public control ---------------------------------------------------------

    async def run(self, *, reconnect: bool = True) -> None:
        """Connect, run sessions, reconnect after drops (until cancelled)."""
        await self.link.run(self._converse, reconnect=reconnect)

    async def run_session(self) -> None:
        """One connection, from connect to drop."""
        await self.link.run_session(self._converse)

    def drop(self) -> None:
        """Cut the link abruptly, as a Wi-Fi outage would."""
        self.link.drop()

    def go_offline(self) -> None:
        """Lose the link and stay away (recording minutes) until :meth:`go_online`."""
        self.link.go_offline()

    def go_online(self) -> None:
        """Reconnect (without logging in again) on the next attempt."""
        self.link.go_online()

    # --- the conversation ---------------------------------------------------------

    async def _converse(self) -> None:
        if not self.logged_in:
            await self._request(Command.LOGIN, login_values(self.identity))
            self.logged_in = True
        await self._request(Command.HEARTBEAT, None)
        await self._request(Command.EVENT_LOG, event_log(self.clock()))
        self.link.connected.set()
        # The cloud sends its Resume here; give the server a moment to do so.
        await asyncio.sleep(1.0 / self.speed)
        await self._ask_configuration()
        await self._push_report()
        loop = asyncio.get_running_loop()
        next_detail = loop.time()
        next_report = loop.time() + REPORT_INTERVAL / self.speed
        while True:
            self._advance()
            now = loop.time()
            if now >= next_detail:
                await self._push_detail()
                next_detail = now + DETAIL_INTERVAL / self.speed
            if now >= next_report:
                await self._push_report()
                next_report = now + REPORT_INTERVAL / self.speed
            await self._push_realtime()
            await asyncio.sleep(REALTIME_INTERVAL / self.speed)

    def _advance(self) -> None:
        self.model.advance_to(self.clock())
        self.history.forget_old()

    def _measure(self) -> Sample:
        """The battery's state now (a timed record is made as it is sent)."""
        self._advance()
        return self.model.snapshot()

    async def _push_realtime(self) -> None:
        serial = self.identity.serial
        await self._request(
            Command.REALTIME, lambda: realtime_values(self._measure(), serial)
        )

    async def _push_detail(self) -> None:
        serial = self.identity.serial
        await self._request(
            Command.DETAILED_RECORD, lambda: detailed_record(self._measure(), serial)
        )

    async def _push_report(self) -> None:
        report = system_report(self.identity, self.model, self.settings)
        await self._request(Command.SYSTEM_REPORT, report)

    async def _ask_configuration(self) -> None:
        await self._request(Command.CONFIG, {"SN": self.identity.serial})

    async def _upload_history(self, start: datetime, minutes: int) -> None:
        self._advance()
        for payload in self.history.upload(start, minutes):
            await self._request(Command.HISTORY, payload)

    async def _request(self, command: Command, payload: Payload) -> None:
        """Send a request and wait for its acknowledgement (every request passes here)."""
        await self.link.request(command, payload)

    def _obey(self, frame: Frame) -> None:
        """A frame the server sent of its own accord: answer it, then act on it."""
        command = decode_message(frame)
        if not isinstance(command, ServerCommand):
            return
        reply = self.control.answer(command)
        if reply is None:
            return
        self.link.write(reply)
        if command.command == "SetConfig":
            self.link.spawn(
                self.control.reconfigure(self._ask_configuration, self._push_report)
            )
        if (window := resume_window(command)) is not None:
            self.link.spawn(self._upload_history(*window))
