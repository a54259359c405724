"""The door over real loopback TCP: who gets a slot when the LAN floods the port.

Issue #23: connections from 249 addresses reconnecting at once evicted a battery's new
connection before its login was read, and made-up serials filled every slot. Linux
routes all of 127/8 to loopback, so each test picks its peers' source addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import contextlib
import logging
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
    RealtimeRecord,
)
from custom_components.alphaess_local.protocol.server import doorway
from custom_components.alphaess_local.protocol.server.events import Disconnected
from custom_components.alphaess_local.protocol.server.server import AlphaServer

from .conftest import HOST, EventLog as Events, From, RawClient
from .test_server import SERIAL, login, realtime


async def is_open(client: RawClient) -> bool:
    """Whether the server still answers ``client`` (a heartbeat gets its ack)."""
    try:
        await client.send(Frame(1, 0))
    except (ConnectionError, OSError):
        return False
    return not await client.closed_by_server(timeout=0.5)


async def wait_until(predicate: Callable[[], bool], timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def battery_visit(
    port: int, source: str, connect_from: From, events: Events, soc: int
) -> bool:
    """A battery connects, logs in, sends one record and leaves: did it get in?"""
    left = len([e for e in events.events if isinstance(e, Disconnected)])
    try:
        battery: RawClient = await connect_from(port, source)
        await battery.send(login())
        (ack,) = await battery.frames(1, timeout=20)
        await battery.send(realtime(soc=str(soc)))
        await battery.frames(2, timeout=20)
    except (ConnectionError, OSError):
        return False
    await battery.close()
    await events.wait_for(
        lambda: len([e for e in events.events if isinstance(e, Disconnected)]) > left,
        timeout=20,
    )
    return ack.header == (1, 2, 2)


async def flood_worker(port: int, source: str) -> None:
    """An unidentified connection that reconnects at once whenever it is closed."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(
                HOST, port, local_addr=(source, 0)
            )
        except OSError:
            await asyncio.sleep(0)
            continue
        try:
            with contextlib.suppress(OSError):
                while await reader.read(65536):
                    pass
        finally:
            writer.transport.abort()
            writer.close()


@contextlib.asynccontextmanager
async def flood(
    server: AlphaServer, addresses: int, per_address: int = 4
) -> AsyncGenerator[list[str]]:
    """``addresses`` x ``per_address`` churning connections, until the block ends."""
    sources = [f"127.0.{1 + n // 250}.{1 + n % 250}" for n in range(addresses)]
    tasks = [
        asyncio.create_task(flood_worker(server.port, source))
        for source in sources
        for _ in range(per_address)
    ]
    loop = asyncio.get_running_loop()
    # Debug mode records a stack for every callback: 240 sockets' worth would make the
    # test a benchmark of that instead.
    debug = loop.get_debug()
    loop.set_debug(False)
    try:
        # In full swing: every slot taken, most flood addresses churning.
        await wait_until(
            lambda: server.connection_count >= server.max_connections
            and 2
            * sum(
                server.doorway.churn(s, loop.time()) >= doorway.CHURNING
                for s in sources
            )
            >= len(sources),
            timeout=60,
        )
        yield sources
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        loop.set_debug(debug)


async def test_a_known_battery_gets_in_on_every_reconnect_during_a_flood(
    make_server: Callable[..., Any], events: Events, connect_from: From
) -> None:
    """60 addresses x 4 reconnecting connections against 8 slots; 5 reconnects."""
    server: AlphaServer = await make_server(max_connections=8)
    home = "127.0.0.200"
    assert await battery_visit(server.port, home, connect_from, events, 0)
    async with flood(server, 60):
        got_in = [
            await battery_visit(server.port, home, connect_from, events, n)
            for n in range(1, 6)
        ]
    assert got_in == [True] * 5
    assert [r.soc for r in events.messages(RealtimeRecord)] == list(range(6))


async def test_a_battery_never_seen_gets_in_during_a_flood(
    make_server: Callable[..., Any], events: Events, connect_from: From
) -> None:
    """A quiet address may close an in-grace connection of a churning one."""
    server: AlphaServer = await make_server(max_connections=8)
    async with flood(server, 60):
        assert await battery_visit(server.port, "127.0.0.201", connect_from, events, 7)
    assert [r.soc for r in events.messages(RealtimeRecord)] == [7]


async def test_a_newcomer_is_not_evicted_within_its_grace(
    make_server: Callable[..., Any],
    connect_from: From,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doorway, "GRACE", 60.0)
    server: AlphaServer = await make_server(max_connections=2)
    first = await connect_from(server.port, "127.0.0.11")
    second = await connect_from(server.port, "127.0.0.12")
    await wait_until(lambda: server.connection_count == 2)
    third = await connect_from(server.port, "127.0.0.13")
    assert await third.closed_by_server(timeout=10)
    assert await is_open(first)
    assert await is_open(second)
    assert server.connections.recent[-1].ended == doorway.NO_ROOM
    # Past its grace it makes room like any unidentified connection.
    monkeypatch.setattr(doorway, "GRACE", 0.0)
    fourth = await connect_from(server.port, "127.0.0.14")
    assert await first.closed_by_server(timeout=10)
    assert await is_open(fourth)


async def test_a_churning_address_is_evicted_before_a_quiet_one(
    make_server: Callable[..., Any],
    connect_from: From,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doorway, "GRACE", 0.0)
    server: AlphaServer = await make_server(max_connections=6)
    quiet = await connect_from(server.port, "127.0.0.21")  # the oldest
    assert await is_open(quiet)
    churning = []  # six from one address: it keeps its newest four
    for _ in range(6):
        client = await connect_from(server.port, "127.0.0.22")
        assert await is_open(client)
        churning.append(client)
    newcomers = [await connect_from(server.port, f"127.0.0.{n}") for n in (23, 24)]
    assert [await is_open(c) for c in newcomers] == [True, True]
    assert await is_open(quiet)
    assert [await is_open(c) for c in churning] == [False] * 3 + [True] * 3


async def test_the_accept_rate_limit_spares_battery_addresses(
    make_server: Callable[..., Any],
    events: Events,
    connect_from: From,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(doorway, "BURST", 5)
    monkeypatch.setattr(doorway, "RATE", 0.0)
    caplog.set_level(logging.WARNING)
    server: AlphaServer = await make_server()

    async def burst(source: str, count: int) -> list[str | None]:
        """Open ``count`` connections; how each ended (``None``: still open)."""
        records = []
        for _ in range(count):
            client = await connect_from(server.port, source)
            ip, port = client.writer.get_extra_info("sockname")[:2]
            peer = f"{ip}:{port}"
            await wait_until(
                lambda p=peer: any(r.peer == p for r in server.connections.recent)
            )
            records += [r for r in server.connections.recent if r.peer == peer]
        return [r.ended for r in records]

    ended = await burst("127.0.0.31", 8)
    assert ended[5:] == [doorway.TOO_FAST] * 3
    assert doorway.TOO_FAST not in ended[:5]
    # Another address has its own bucket; a battery's address has none.
    home = "127.0.0.32"
    assert await battery_visit(server.port, home, connect_from, events, 1)
    ended = await burst(home, 8)
    assert doorway.TOO_FAST not in ended
    refusals = [r for r in caplog.records if "one address" in r.getMessage()]
    assert len(refusals) == 1


async def test_made_up_serials_cannot_lock_out_the_first_battery(
    make_server: Callable[..., Any], events: Events, connect_from: From
) -> None:
    """No allowlist, 16 slots, 30 invented serials: the first battery still gets in."""
    server: AlphaServer = await make_server()
    home = "127.0.0.41"
    assert await battery_visit(server.port, home, connect_from, events, 1)
    accepted = 0
    for n in range(30):
        fake = await connect_from(server.port, f"127.0.2.{n + 1}")
        await fake.send(login(f"AL90020210300{n:02d}"))
        try:
            await fake.frames(1, timeout=10)
            accepted += 1
        except ConnectionError:
            pass
    assert accepted == server.max_connections - 1
    assert await battery_visit(server.port, home, connect_from, events, 2)
    assert [r.soc for r in events.messages(RealtimeRecord)] == [1, 2]
    assert server.holders.reserved == {SERIAL}


async def test_per_address_state_is_bounded(
    make_server: Callable[..., Any],
    connect_from: From,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(doorway, "MAX_TRACKED_ADDRESSES", 100)
    monkeypatch.setattr(doorway, "MAX_BATTERY_ADDRESSES", 3)
    server: AlphaServer = await make_server()
    sources = [f"127.0.3.{n + 1}" for n in range(150)]
    for source in sources:
        client = await connect_from(server.port, source)
        await client.close()
    batteries = [f"127.0.4.{n + 1}" for n in range(5)]
    for n, source in enumerate(batteries):
        client = await connect_from(server.port, source)
        serial = f"AL90020210301{n:02d}"
        await client.send(login(serial))
        await client.send(realtime(serial))  # proven: a pinning login and its data
        await client.frames(2)
        await client.close()
    loop = asyncio.get_running_loop()
    assert server.doorway.tracked == 100
    assert server.doorway.churn(sources[0], loop.time()) == 0.0
    assert server.doorway.churn(sources[-1], loop.time()) > 0.0
    assert server.doorway.battery_addresses == set(batteries[-3:])


async def test_only_a_proven_battery_makes_its_address_a_battery_address(
    make_server: Callable[..., Any], connect_from: From
) -> None:
    """A battery address skips the rate limit and keeps its slot: it must be earned.

    Anything less than the pinned login and the battery's data a LAN device can do,
    and four such addresses would otherwise hold the door against the battery.
    """
    server: AlphaServer = await make_server()
    home = await connect_from(server.port, "127.0.6.1")
    await home.send(login(password="hunter2"))
    await home.send(realtime())
    await home.frames(2)
    await home.close()
    attempts = {
        "127.0.6.2": [login(password="guessed"), realtime()],  # other credentials
        "127.0.6.3": [login(password="hunter2")],  # the login, never the data
        "127.0.6.4": [realtime()],  # the data, never a login
    }
    for source, frames in attempts.items():
        await wait_until(lambda: not server.connected_serials)
        client = await connect_from(server.port, source)
        for frame in frames:
            await client.send(frame)
        await client.frames(len(frames))
        await client.close()
    assert server.doorway.battery_addresses == {"127.0.6.1"}
