"""The simulated battery against servers that answer less than ours does, over loopback.

The original home fake server never answered the heartbeat and a real battery streamed
to it for months; a simulator that insisted on that answer would be stricter than the
battery it stands in for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import contextlib
import logging
import socket

import pytest

from custom_components.alphaess_local.protocol import Frame, FrameDecoder
from custom_components.alphaess_local.protocol.codec.frame import Command, Kind
from custom_components.alphaess_local.protocol.simulator import SimulatedBattery

from .conftest import HOST

SUCCESS = b'{"Status":"Success"}'
SIMULATOR_LOGGER = "custom_components.alphaess_local.protocol.simulator"
# Generous for a loaded machine, short against the realtime stream it is judged by.
ACK_TIMEOUT = 1.0


class TerseServer:
    """Acknowledges every request except heartbeats and the commands in ``silent``."""

    def __init__(self) -> None:
        self.silent: set[int] = set()
        self.connections: list[list[Frame]] = []
        self.changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, port)

    async def close(self) -> None:
        """Stop listening and cut every link, as a server that goes away does."""
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def sent(self, command: int, connection: int = -1) -> list[Frame]:
        return [f for f in self.connections[connection] if f.command == command]

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        frames: list[Frame] = []
        self.connections.append(frames)
        self._writers.append(writer)
        self.changed.set()
        decoder = FrameDecoder()
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    if not isinstance(frame, Frame) or frame.kind != Kind.REQUEST:
                        continue
                    frames.append(frame)
                    self.changed.set()
                    if frame.command != Command.HEARTBEAT and (
                        frame.command not in self.silent
                    ):
                        writer.write(Frame(Kind.REPLY, frame.command, SUCCESS).encode())
        writer.close()
        self.changed.set()


@pytest.fixture
async def terse_server(socket_enabled: None) -> AsyncGenerator[TerseServer]:
    server = TerseServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def run_battery(
    socket_enabled: None,
) -> AsyncGenerator[Callable[[int], SimulatedBattery]]:
    tasks: list[asyncio.Task[None]] = []

    def _run(port: int, speed: float = 200) -> SimulatedBattery:
        battery = SimulatedBattery(HOST, port, speed=speed)
        battery.ack_timeout = ACK_TIMEOUT
        tasks.append(asyncio.create_task(battery.run()))
        return battery

    yield _run
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def closed_port() -> int:
    """A loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def info_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == SIMULATOR_LOGGER
        and r.levelno == logging.INFO
        and text in r.getMessage()
    ]


def debug_lines(caplog: pytest.LogCaptureFixture) -> int:
    return sum(
        r.name == SIMULATOR_LOGGER and r.levelno == logging.DEBUG
        for r in caplog.records
    )


async def until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_unanswered_heartbeat_keeps_the_battery_streaming(
    terse_server: TerseServer, run_battery: Callable[..., SimulatedBattery]
) -> None:
    battery = run_battery(terse_server.port, speed=100)
    # 25 realtime pushes 0.1 s apart outlast the acknowledgement timeout twice over.
    await terse_server.wait_for(
        lambda: bool(terse_server.connections)
        and len(terse_server.sent(Command.REALTIME, 0)) >= 25
    )
    assert len(terse_server.connections) == 1
    first = terse_server.connections[0]
    assert [f.command for f in first[:2]] == [Command.LOGIN, Command.HEARTBEAT]
    assert battery.connected.is_set()


async def test_unanswered_realtime_drops_the_link_and_reconnects(
    terse_server: TerseServer,
    run_battery: Callable[..., SimulatedBattery],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=SIMULATOR_LOGGER)
    run_battery(terse_server.port)
    await terse_server.wait_for(
        lambda: bool(terse_server.connections)
        and len(terse_server.sent(Command.REALTIME, 0)) >= 2
    )
    terse_server.silent.add(Command.REALTIME)
    await terse_server.wait_for(lambda: len(terse_server.connections) >= 2)
    terse_server.silent.clear()
    await terse_server.wait_for(lambda: len(terse_server.sent(Command.REALTIME)) >= 3)

    dropped = terse_server.connections[0]
    assert dropped[-1].command == Command.REALTIME  # the one left unanswered
    # Each reconnection starts with the heartbeat: no second login.
    for later in terse_server.connections[1:]:
        assert later[0].command == Command.HEARTBEAT
    assert info_lines(caplog, "no acknowledgement of realtime within 1 s")


async def test_absent_server_is_reported_once_until_it_comes(
    run_battery: Callable[..., SimulatedBattery],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=SIMULATOR_LOGGER)
    port = closed_port()
    # Speed 1000: a retry every 5 ms.
    battery = run_battery(port, speed=1000)
    await until(lambda: debug_lines(caplog) >= 5)
    assert len(info_lines(caplog, "link down")) == 1

    server = TerseServer()
    await server.start(port)
    try:
        await asyncio.wait_for(battery.connected.wait(), 10)
        assert len(info_lines(caplog, "connected to")) == 1
        assert len(info_lines(caplog, "link down")) == 1
    finally:
        await server.close()
    # The server goes away again: one more line, then quiet retries.
    retries = debug_lines(caplog)
    await until(lambda: debug_lines(caplog) >= retries + 5)
    assert len(info_lines(caplog, "link down")) == 2
    assert len(info_lines(caplog, "connected to")) == 1
