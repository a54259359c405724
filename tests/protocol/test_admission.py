"""The trust boundary over real loopback TCP: who gets a connection, who speaks for whom.

Each test is one way a LAN device or a faulty battery hurt the server before: junk
holding every slot, a spoofed serial dropping the live battery, one connection
speaking for many serials, a damaged frame swallowing the good ones after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
    HistoryUpload,
    RealtimeRecord,
)
from custom_components.alphaess_local.protocol.server import (
    doorway,
    holders,
    log_budget,
    session as session_module,
)
from custom_components.alphaess_local.protocol.server.dump import TrafficDump
from custom_components.alphaess_local.protocol.server.events import (
    Disconnected,
    Refusal,
    Refused,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer
from tests.conftest import warnings_logged

from .conftest import EventLog as Events, RawClient, Ticks
from .test_server import SERIAL, login, realtime

OTHER = "AL2000000000002"
HISTORY_HEADER = "Date,Time,SN,EpvTotal,SOC"


def history(*rows: tuple[str, str]) -> Frame:
    """A history upload; ``rows`` are (serial, time) pairs."""
    lines = [HISTORY_HEADER]
    lines += [f"2021/03/24,{t},{serial},436.1,62.4" for serial, t in rows]
    return Frame(1, 12, "\n".join(lines).encode())


def disconnected(events: Events) -> list[str]:
    return [e.serial for e in events.events if isinstance(e, Disconnected)]


async def test_junk_holding_every_slot_does_not_lock_the_battery_out(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    """16+ connections that send a valid heartbeat and never identify themselves."""
    junk: list[RawClient] = []
    for _ in range(server.max_connections + 4):
        client: RawClient = await connect(server.port)
        await client.send(Frame(1, 0))
        junk.append(client)
    for attempt in range(3):  # the battery reconnects a few times, as it would
        battery: RawClient = await connect(server.port)
        await battery.send(login())
        (ack,) = await battery.frames(1)
        assert ack.header == (1, 2, 2), attempt
        await battery.send(realtime(soc=str(attempt)))
        await battery.frames(2)
        await battery.close()
        await events.wait_for(lambda n=attempt: len(disconnected(events)) == n + 1)
    assert [r.soc for r in events.messages(RealtimeRecord)] == [0, 1, 2]
    # At most a few unidentified connections per address survive.
    async with asyncio.timeout(2):
        while server.connection_count > doorway.MAX_UNIDENTIFIED_PER_HOST:
            await asyncio.sleep(0.01)


async def test_twenty_batteries_on_one_listener(
    make_server: Callable[..., Any], events: Events, connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(max_connections=24)
    serials = [f"AL90020210300{n:02d}" for n in range(20)]
    clients: list[RawClient] = []
    for serial in serials:
        client: RawClient = await connect(server.port)
        await client.send(login(serial))
        clients.append(client)
    for client, serial in zip(clients, serials, strict=True):
        await client.frames(1)
        await client.send(realtime(serial))
        await client.frames(2)
    assert server.connected_serials == frozenset(serials)
    assert {r.serial for r in events.messages(RealtimeRecord)} == set(serials)


async def test_spoofed_serial_without_login_does_not_drop_the_live_battery(
    server: AlphaServer,
    events: Events,
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.send(realtime(soc="50"))
    await battery.frames(2)
    for _ in range(11):
        spoofer: RawClient = await connect(server.port)
        await spoofer.send(realtime(soc="1"))
        assert await spoofer.closed_by_server(timeout=2)
    await battery.send(realtime(soc="51"))
    await battery.frames(3)
    assert disconnected(events) == []
    assert [r.soc for r in events.messages(RealtimeRecord)] == [50, 51]
    assert server.connected_serials == {SERIAL}
    warnings = [r for r in caplog.records if "second connection" in r.getMessage()]
    assert len(warnings) == 1
    assert SERIAL not in caplog.text


async def test_silent_old_link_is_taken_over(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    ticks: Ticks,
) -> None:
    """A battery that really reconnects has a silent old socket: it gets in."""
    server: AlphaServer = await make_server(ticks=ticks)
    old: RawClient = await connect(server.port)
    await old.send(login())
    await old.frames(1)
    ticks.advance(holders.TAKEOVER_AFTER + 1)
    new: RawClient = await connect(server.port)
    await new.send(realtime(soc="7"))
    await new.frames(1)
    assert await old.closed_by_server(timeout=2)
    await new.send(realtime(soc="8"))
    await new.frames(2)
    assert server.connected_serials == {SERIAL}
    assert [r.soc for r in events.messages(RealtimeRecord)] == [7, 8]


async def test_one_connection_speaks_for_one_serial(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    tmp_path: Path,
) -> None:
    dump = TrafficDump(tmp_path / "dump.jsonl")
    server: AlphaServer = await make_server(dump=dump)
    client: RawClient = await connect(server.port)
    await client.send(realtime(SERIAL, soc="10"))
    await client.send(realtime(OTHER, soc="20"))
    acks = await client.frames(2)
    assert [a.header for a in acks] == [(1, 2, 16), (1, 2, 16)]
    assert server.connected_serials == {SERIAL}
    assert [r.serial for r in events.messages(RealtimeRecord)] == [SERIAL]
    # Every serial the session claimed is released when it closes.
    await client.close()
    await events.wait_for(lambda: disconnected(events) == [SERIAL])
    assert server.connected_serials == frozenset()
    await dump.flush()
    (line,) = (tmp_path / "dump.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["reason"] == "frame for another serial"
    assert OTHER not in line
    assert SERIAL not in line


async def test_three_hundred_serials_on_one_connection(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    for n in range(300):
        await client.send(realtime(f"AL90000000{n:05d}"))
    # Bad frames close the connection after a few; nothing is ever delivered for them.
    assert await client.closed_by_server(timeout=5)
    assert {e.serial for e in events.events} == {"AL9000000000000"}


async def test_allowlist_applies_to_every_history_row(
    make_server: Callable[..., Any], events: Events, connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(allowlist=[SERIAL])
    client: RawClient = await connect(server.port)
    await client.send(
        history((SERIAL, "11:00:35"), (OTHER, "11:01:36"), (SERIAL, "11:02:36"))
    )
    (ack,) = await client.frames(1)
    assert ack.header == (1, 2, 12)
    (upload,) = events.messages(HistoryUpload)
    assert [r.serial for r in upload.rows] == [SERIAL, SERIAL]
    # A connection that names a refused serial first gets nothing delivered.
    intruder: RawClient = await connect(server.port)
    await intruder.send(history((OTHER, "11:00:35"), (SERIAL, "11:01:36")))
    assert await intruder.closed_by_server(timeout=2)
    assert len(events.messages(HistoryUpload)) == 1
    # The owner hears of the refusal and why (the intruder's address, the serial).
    (refused,) = [e for e in events.events if isinstance(e, Refused)]
    assert (refused.serial, refused.reason) == (OTHER, Refusal.NOT_ALLOWED)
    assert refused.peer.startswith("127.0.0.1:")


async def test_damaged_login_then_two_hundred_frames_get_two_hundred_acks(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    bad = bytearray(login().encode())
    bad[-1] ^= 0xFF
    await client.send(
        bytes(bad) + b"".join(realtime(soc=str(n)).encode() for n in range(200))
    )
    acks = await client.frames(201)
    assert acks[0].header == (1, 2, 2)  # the damaged login is acknowledged too
    assert all(a.header == (1, 2, 16) for a in acks[1:])
    assert [r.soc for r in events.messages(RealtimeRecord)] == list(range(200))


async def test_bad_frames_close_the_connection(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    await client.send(login())
    await client.frames(1)
    damaged = bytearray(realtime().encode())
    damaged[-1] ^= 0x55
    for _ in range(session_module.MAX_STRIKES + 1):
        await client.send(bytes(damaged))
    assert await client.closed_by_server(timeout=2)


async def test_unidentified_peer_must_send_a_valid_frame_soon(
    server: AlphaServer,
    connect: Callable[[int], Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(session_module, "FIRST_FRAME_TIMEOUT", 0.2)
    caplog.set_level(logging.INFO)
    silent: RawClient = await connect(server.port)
    assert await silent.closed_by_server(timeout=2)
    assert "no complete frame" in caplog.text


async def test_unidentified_peers_are_evicted_per_address_oldest_first(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    cap = doorway.MAX_UNIDENTIFIED_PER_HOST
    clients: list[RawClient] = []
    for _ in range(cap + 1):
        client: RawClient = await connect(server.port)
        await client.send(Frame(1, 0))
        await client.frames(1)
        clients.append(client)
    assert await clients[0].closed_by_server(timeout=2)
    for client in clients[1:]:
        await client.send(Frame(1, 0))
        assert len(await client.frames(2)) == 2


async def test_a_flood_of_junk_connections_does_not_flood_the_log(
    server: AlphaServer,
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    for _ in range(30):
        client: RawClient = await connect(server.port)
        forged = bytes([1, 1, 16]) + (2**31).to_bytes(4, "big")
        # Not a protocol we recognise (an HTTP request is named and closed at once).
        await client.send((b"\x00GET / HTTP/1.1\r\n" + forged) * 10)
        assert await client.closed_by_server(timeout=2)
    warnings = warnings_logged(caplog)
    assert len(warnings) == log_budget.WARNINGS_PER_HOST + 1
    assert "logged at debug level" in warnings[-1].getMessage()


async def test_a_refusal_names_the_model_a_system_report_gave(
    make_server: Callable[..., Any], events: Events, connect: Callable[[int], Any]
) -> None:
    """The owner asked about a new battery can check its model, when it said one."""
    server: AlphaServer = await make_server(admission=lambda serial: False)
    for first in (
        Frame(1, 4, json.dumps({"SN": OTHER, "Mbat": "Smile-BAT-10.1P"}).encode()),
        login(OTHER),
        Frame(1, 4, json.dumps({"SN": OTHER}).encode()),
    ):
        client: RawClient = await connect(server.port)
        await client.send(first)
        assert await client.closed_by_server(timeout=2)
    refused = [e for e in events.events if isinstance(e, Refused)]
    assert [(e.reason, e.model) for e in refused] == [
        (Refusal.AWAITING_OWNER, "Smile-BAT-10.1P"),
        (Refusal.AWAITING_OWNER, None),
        (Refusal.AWAITING_OWNER, None),
    ]
