"""Loopback fixtures for the server tests: a running server and a raw client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import contextlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import Frame, FrameDecoder
from custom_components.alphaess_local.protocol.server.events import (
    Received,
    ServerEvent,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer

HOST = "127.0.0.1"
# How long a helper waits for what must come: far longer than it takes on a loaded
# machine under coverage, and below the test's own limit (tests/time_limit.py), so a
# wait that can never end fails its test with the helper's line in the traceback.
PATIENCE = 30.0


@dataclass
class EventLog:
    """Everything a server reported, with helpers to wait for a condition."""

    events: list[ServerEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: ServerEvent) -> None:
        self.events.append(event)
        self.changed.set()

    def messages(self, kind: type[Any] | None = None) -> list[Any]:
        return [
            e.message
            for e in self.events
            if isinstance(e, Received) and (kind is None or isinstance(e.message, kind))
        ]

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = PATIENCE
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def events() -> EventLog:
    return EventLog()


class Ticks:
    """A monotonic clock that moves only when the test says (``AlphaServer(ticks=)``).

    Rules that count time (row and log budgets, the door's grace and churn, life
    signs) read it, so a loaded machine or coverage's tracer cannot move them.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def ticks() -> Ticks:
    return Ticks()


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """The functions ``task`` is suspended in, outermost first (its ``await`` chain)."""
    names: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            names.append(frame.f_code.co_name)
        awaited = getattr(awaited, "cr_await", None) or getattr(
            awaited, "gi_yieldfrom", None
        )
    return names


async def until_a_session_awaits(
    server: AlphaServer, function: str, timeout: float = 30
) -> None:
    """Wait until one of ``server``'s sessions is suspended inside ``function``."""
    async with asyncio.timeout(timeout):
        while not any(
            function in await_chain(task) for task in server._sessions.values()
        ):
            await asyncio.sleep(0.01)


@pytest.fixture
async def make_server(
    socket_enabled: None, events: EventLog
) -> AsyncGenerator[Callable[..., Any]]:
    servers: list[AlphaServer] = []

    async def _make(**kwargs: Any) -> AlphaServer:
        server = AlphaServer(
            kwargs.pop("on_event", events), host=HOST, port=0, **kwargs
        )
        await server.start()
        servers.append(server)
        return server

    yield _make
    for server in servers:
        await server.close()


@pytest.fixture
async def server(make_server: Callable[..., Any]) -> AlphaServer:
    result: AlphaServer = await make_server()
    return result


class RawClient:
    """A hand-driven peer: write any bytes, read whatever the server answers."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder()
        self.received: list[Frame] = []

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection(HOST, port)
        return cls(reader, writer)

    async def send(self, data: bytes | Frame) -> None:
        self.writer.write(data.encode() if isinstance(data, Frame) else data)
        await self.writer.drain()

    async def frames(self, count: int, timeout: float = PATIENCE) -> list[Frame]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("closed by server")
                self.received += [
                    f for f in self.decoder.feed(data) if isinstance(f, Frame)
                ]
        return self.received[:count]

    async def closed_by_server(self, timeout: float = PATIENCE) -> bool:
        """Whether the server closed the link within ``timeout`` (reads past acks)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


type From = Callable[[int, str], Any]


@pytest.fixture
async def connect_from(socket_enabled: None) -> AsyncGenerator[From]:
    """Connect to the server from a chosen 127.x.y.z source address."""
    clients: list[RawClient] = []

    async def _connect(port: int, source: str) -> RawClient:
        reader, writer = await asyncio.open_connection(
            HOST, port, local_addr=(source, 0)
        )
        client = RawClient(reader, writer)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
async def connect(socket_enabled: None) -> AsyncGenerator[Callable[[int], Any]]:
    clients: list[RawClient] = []

    async def _connect(port: int) -> RawClient:
        client = await RawClient.connect(port)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.close()
