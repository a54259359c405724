"""``AlphaServer.close()`` ends within a bounded time, whatever a session awaits.

Home Assistant closes the server on every reload and at shutdown; ``serve`` on
Ctrl-C or SIGTERM; the test fixtures after every test. A close that waits on a
session's sleep, a peer that stopped reading or a cloud that never answers hangs
all of those (issue #28: a suite run hung for good in a server fixture's teardown).
Each kind of wait ends at once when the server closes; anything else is cancelled
once ``close_timeout`` has passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import socket
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
)
from custom_components.alphaess_local.protocol.server import pacing, session
from custom_components.alphaess_local.protocol.server.events import (
    BatteryNotConnectedError,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer

from .conftest import HOST, RawClient, until_a_session_awaits
from .test_pacing import HEADER, logged_in
from .test_server import SERIAL, realtime

# What a test allows close(): far below any of the session's own deadlines (idle
# 300 s, write 30 s, a budget wait 60 s, a cloud's settings 30 s), so only an end
# that comes from close() itself passes.
PROMPT = 3.0


async def closed_promptly(server: AlphaServer) -> None:
    async with asyncio.timeout(PROMPT):
        await server.close()
    assert server.connection_count == 0


async def test_a_link_waiting_for_its_row_budget(
    server: AlphaServer, connect: Callable[[int], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacing, "ROWS_PER_MINUTE", 10)
    client = await logged_in(server, connect, SERIAL)
    junk = "\n".join([HEADER, *(["x"] * 500)])  # 50 minutes of budget
    await client.send(Frame(1, 12, junk.encode("ascii")))
    await until_a_session_awaits(server, "_pause")
    await closed_promptly(server)


async def test_a_peer_that_stopped_reading_our_replies(
    server: AlphaServer, socket_enabled: None
) -> None:
    """The session waits in ``drain()`` for a peer that sends and never reads."""
    loop = asyncio.get_running_loop()
    peer = socket.socket()
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    await loop.sock_connect(peer, (HOST, server.port))
    async with asyncio.timeout(30):
        while not server._sessions:
            await asyncio.sleep(0.01)
    (held,) = list(server._sessions)
    transport = held._writer.transport
    transport.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
    )
    flood = asyncio.create_task(_send_for_ever(loop, peer, realtime().encode() * 50))
    try:
        # Acks pile up unread until the session's writes must wait: its transport
        # holds more than it may (session.DRAIN_ABOVE) because the kernel's buffers
        # are full, and they stay full: the peer never reads.
        await until_a_session_awaits(server, "drain", timeout=60)
        assert transport.get_write_buffer_size() > session.DRAIN_ABOVE
        await closed_promptly(server)
    finally:
        flood.cancel()
        await asyncio.gather(flood, return_exceptions=True)
        peer.close()


async def _send_for_ever(
    loop: asyncio.AbstractEventLoop, peer: socket.socket, data: bytes
) -> None:
    while True:
        await loop.sock_sendall(peer, data)


async def test_a_command_waiting_for_its_reply(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    await client.send(
        Frame(1, 2, json.dumps({"UserName": SERIAL, "Password": "x"}).encode())
    )
    await client.frames(1)
    pending = asyncio.create_task(server.set_config(SERIAL, timeout=300))
    await client.frames(2)  # the command is out; the battery never answers
    await closed_promptly(server)
    with pytest.raises(BatteryNotConnectedError):
        async with asyncio.timeout(PROMPT):
            await pending


async def test_an_answer_waiting_for_the_clouds_settings(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    """A configuration answer that waits for the cloud's (a relayed ``SetConfig``)."""
    client = await logged_in(server, connect, SERIAL)
    server.expect_cloud_config(SERIAL)  # as the relay does for a passed SetConfig
    await client.send(Frame(1, 3, json.dumps({"SN": SERIAL}).encode()))
    await until_a_session_awaits(server, "config_for")
    await closed_promptly(server)


async def test_anything_else_a_session_awaits_is_cancelled_after_the_bound(
    server: AlphaServer, connect: Callable[[int], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wait that ignores the abort (as a test's gate did) ends at ``close_timeout``."""
    monkeypatch.setattr(pacing, "ROWS_PER_MINUTE", 10)

    async def pause(self: pacing.Pacer, seconds: float) -> None:
        await asyncio.Event().wait()  # never set, deaf to the connection's close

    monkeypatch.setattr(pacing.Pacer, "_pause", pause)
    client = await logged_in(server, connect, SERIAL)
    await client.send(Frame(1, 12, "\n".join([HEADER, *(["x"] * 50)]).encode()))
    await until_a_session_awaits(server, "pause")
    server.close_timeout = 0.2
    await closed_promptly(server)
