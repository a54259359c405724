"""The fake-cloud server over real loopback TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from datetime import datetime
import json
import logging
import os
from pathlib import Path
import socket
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    CommandReply,
    ConfigRequest,
    DetailedRecord,
    EventLog,
    Frame,
    Heartbeat,
    HistoryUpload,
    Login,
    RealtimeRecord,
    SystemReport,
    Undecodable,
    UnknownMessage,
)
from custom_components.alphaess_local.protocol.server.dump import TrafficDump
from custom_components.alphaess_local.protocol.server.events import (
    BatteryNotConnectedError,
    CommandTimeoutError,
    Corrupted,
    Disconnected,
    Received,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer
from custom_components.alphaess_local.protocol.simulator import (
    Identity,
    SimulatedBattery,
)

from .conftest import HOST, EventLog as Events, RawClient

SERIAL = "AL9002021030042"
SUCCESS = b'{"Status":"Success"}'


def login(serial: str = SERIAL, password: str = "hunter2") -> Frame:
    body = json.dumps(
        {"UserName": serial, "Password": password, "CompanyName": "AlphaESS"}
    )
    return Frame(1, 2, body.encode())


def realtime(serial: str = SERIAL, soc: str = "50.0") -> Frame:
    body = {"Time": "2021/03/24 10:01:52", "SN": serial, "SOC": soc, "Pbat": "-5"}
    return Frame(1, 16, json.dumps(body).encode())


async def start_battery(
    server: AlphaServer, **kwargs: Any
) -> tuple[SimulatedBattery, asyncio.Task[None]]:
    battery = SimulatedBattery(
        HOST, server.port, speed=kwargs.pop("speed", 200), **kwargs
    )
    task = asyncio.create_task(battery.run())
    return battery, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_full_session_with_simulator(server: AlphaServer, events: Events) -> None:
    # The battery's clock stands still: what its last record says is what its model
    # says now, however long a loaded machine took to get here.
    still = datetime(2026, 1, 5, 12, 0)
    battery, task = await start_battery(server, start=still, clock=lambda: still)
    try:
        wanted = (
            Login,
            Heartbeat,
            EventLog,
            ConfigRequest,
            SystemReport,
            DetailedRecord,
        )
        await events.wait_for(
            lambda: all(events.messages(k) for k in wanted)
            and len(events.messages(RealtimeRecord)) >= 3
        )
    finally:
        await stop(task)
    kinds = [type(m) for m in events.messages()]
    assert kinds[:4] == [Login, Heartbeat, EventLog, ConfigRequest]
    received = [e for e in events.events if isinstance(e, Received)]
    assert {e.serial for e in received} == {SERIAL}
    assert all(e.received_at.tzinfo is not None for e in received)
    # The configuration request got a bare success, never settings.
    assert battery.config_answers == [{"Status": "Success"}]
    record = events.messages(RealtimeRecord)[-1]
    assert record.house_load == pytest.approx(battery.model.snapshot().load, abs=1)


async def test_reconnect_without_login(server: AlphaServer, events: Events) -> None:
    battery, task = await start_battery(server)
    try:
        await events.wait_for(lambda: len(events.messages(RealtimeRecord)) >= 1)
        battery.drop()
        await events.wait_for(
            lambda: any(isinstance(e, Disconnected) for e in events.events)
        )
        before = len(events.messages(RealtimeRecord))
        await events.wait_for(lambda: len(events.messages(RealtimeRecord)) > before + 1)
        assert server.connected_serials == {SERIAL}
    finally:
        await stop(task)
    assert len(events.messages(Login)) == 1
    assert len(events.messages(Heartbeat)) == 2
    # The stopped battery's link closes too, and with it its serial is released.
    await events.wait_for(
        lambda: sum(isinstance(e, Disconnected) for e in events.events) == 2
    )
    assert server.connected_serials == frozenset()


async def test_push_on_connection_that_never_logged_in(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    await client.send(realtime())
    (ack,) = await client.frames(1)
    assert ack == Frame(2, 16, SUCCESS)
    await events.wait_for(lambda: SERIAL in server.connected_serials)
    assert events.events[0].serial == SERIAL


async def test_two_batteries_at_once(server: AlphaServer, events: Events) -> None:
    _, task_a = await start_battery(server)
    _, task_b = await start_battery(server, identity=Identity(serial="AL2000000000002"))
    try:
        await events.wait_for(lambda: len(server.connected_serials) == 2)
        await events.wait_for(
            lambda: {r.serial for r in events.messages(RealtimeRecord)}
            == {SERIAL, "AL2000000000002"}
        )
        assert server.connected_serials == {SERIAL, "AL2000000000002"}
    finally:
        await stop(task_a)
        await stop(task_b)
    # Each spoke for itself only: one login per battery, each with its own serial.
    assert sorted(m.serial for m in events.messages(Login)) == [
        "AL2000000000002",
        SERIAL,
    ]


async def test_split_and_coalesced_frames(
    server: AlphaServer, events: Events, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    for byte in login().encode():
        await client.send(bytes([byte]))
    await client.send(
        b"".join(f.encode() for f in (Frame(1, 0), realtime(), realtime()))
    )
    acks = await client.frames(4)
    assert [a.header for a in acks] == [(1, 2, 2), (1, 2, 0), (1, 2, 16), (1, 2, 16)]
    assert all(a.payload == SUCCESS for a in acks)


async def test_junk_beside_a_good_session(
    make_server: Callable[..., Any], events: Events, connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(max_payload=64 * 1024)
    good: RawClient = await connect(server.port)
    await good.send(login())
    await good.frames(1)

    junk = [await connect(server.port) for _ in range(4)]
    bad_crc = bytearray(realtime("AL0000000000099").encode())
    bad_crc[-1] ^= 0x55
    hostile_length = bytes([1, 1, 16]) + (2**31).to_bytes(4, "big")

    async def trickle(client: RawClient) -> None:
        for byte in b"\x01\x01\x10\x00\x00\x00\x40" + b"x" * 30:
            await client.send(bytes([byte]))
            await asyncio.sleep(0.01)

    trickler = asyncio.create_task(trickle(junk[3]))
    await junk[0].send(os.urandom(200_000))
    await junk[1].send(bytes(bad_crc))
    await junk[2].send(hostile_length + b"\x00" * 100_000)

    # One request at a time, each waiting for its ack (frames() bounds a hang): the
    # good session is served while the junk is still arriving.
    for n in range(20):
        await good.send(realtime(soc=str(n)))
        await good.frames(2 + n)
    await trickler
    assert [a.header for a in good.received] == [(1, 2, 2)] + [(1, 2, 16)] * 20
    assert all(a.payload == SUCCESS for a in good.received)
    socs = [r.soc for r in events.messages(RealtimeRecord) if r.serial == SERIAL]
    assert socs == list(range(20))
    # The damaged request was still acknowledged, and reported.
    (ack,) = await junk[1].frames(1)
    assert ack.header == (1, 2, 16)
    reasons = {e.corrupt.reason for e in events.events if isinstance(e, Corrupted)}
    assert {"crc_mismatch", "oversized", "bad_header"} <= {str(r) for r in reasons}


async def test_allowlist_refuses_and_warns_once(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server: AlphaServer = await make_server(allowlist=[SERIAL])
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        intruder: RawClient = await connect(server.port)
        await intruder.send(login("AL7777777777777", "intruder-secret"))
        assert await intruder.closed_by_server()
    refusals = [r for r in caplog.records if "allowlist" in r.getMessage()]
    assert len(refusals) == 1
    assert "AL7777777777777" not in caplog.text
    assert "intruder-secret" not in caplog.text
    allowed: RawClient = await connect(server.port)
    await allowed.send(login())
    assert (await allowed.frames(1))[0].header == (1, 2, 2)


async def test_connection_limit_refuses_only_when_all_are_batteries(
    make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(max_connections=2)
    first: RawClient = await connect(server.port)
    second: RawClient = await connect(server.port)
    await first.send(login())
    await second.send(login("AL2000000000002"))
    await first.frames(1)
    await second.frames(1)
    third: RawClient = await connect(server.port)
    assert await third.closed_by_server(timeout=2)
    await first.send(Frame(1, 0))
    assert len(await first.frames(2)) == 2
    # The limit can be raised at run time (Home Assistant sizes it from its batteries).
    server.max_connections = 3
    fourth: RawClient = await connect(server.port)
    await fourth.send(Frame(1, 0))
    assert len(await fourth.frames(1)) == 1


async def test_idle_timeout_closes_silent_and_trickling_peers(
    make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(idle_timeout=0.3)
    silent: RawClient = await connect(server.port)
    trickling: RawClient = await connect(server.port)

    async def trickle() -> None:
        # Until the server hangs up: activity without a frame must not keep it open.
        with contextlib.suppress(ConnectionError):
            while True:
                await trickling.send(b"\x01")
                await asyncio.sleep(0.05)

    task = asyncio.create_task(trickle())
    # Generous bounds: they only stop a hang; closing is what is checked.
    assert await silent.closed_by_server(timeout=30)
    assert await trickling.closed_by_server(timeout=30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    async with asyncio.timeout(10):
        while server.connection_count:
            await asyncio.sleep(0.01)


async def test_resume_round_trip_uploads_history(
    server: AlphaServer, events: Events
) -> None:
    start = datetime(2026, 1, 5, 9, 0, 0)
    battery, task = await start_battery(server, speed=600, start=start)
    try:
        await battery.connected.wait()
        await events.wait_for(lambda: battery.model.now >= datetime(2026, 1, 5, 9, 12))
        reply = await server.resume(SERIAL, start, 10)
        assert isinstance(reply, CommandReply)
        assert reply.status == "Success"
        assert reply.command == "Resume"
        await events.wait_for(
            lambda: sum(len(u.rows) for u in events.messages(HistoryUpload)) >= 9
        )
    finally:
        await stop(task)
    rows = [r for u in events.messages(HistoryUpload) for r in u.rows]
    assert all(len(u.rows) <= 3 for u in events.messages(HistoryUpload))
    assert rows[0].time is not None
    assert start <= rows[0].time < datetime(2026, 1, 5, 9, 10)
    assert [r.e_charge for r in rows] == sorted(r.e_charge for r in rows)
    assert battery.commands[0].parameters == ("2026/01/05 09:00:00", "10")


async def test_command_to_absent_or_silent_battery(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    with pytest.raises(BatteryNotConnectedError, match="not connected"):
        await server.resume("AL0000000000000", datetime(2021, 1, 1), 5)
    mute: RawClient = await connect(server.port)
    await mute.send(login())
    await mute.frames(1)
    with pytest.raises(CommandTimeoutError):
        await server.sync_time(SERIAL, timeout=0.2)
    command = (await mute.frames(2))[1]
    assert command.header == (1, 1, 8)
    assert b'"Command":"SyncTime"' in command.payload


async def test_disconnect_fails_pending_command(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    await client.send(login())
    await client.frames(1)
    pending = asyncio.create_task(server.set_config(SERIAL, timeout=5))
    await client.frames(2)
    await client.close()
    with pytest.raises(BatteryNotConnectedError):
        await pending


async def test_config_only_when_handed_over(
    server: AlphaServer, connect: Callable[[int], Any]
) -> None:
    client: RawClient = await connect(server.port)
    request = Frame(1, 3, json.dumps({"SN": SERIAL}).encode())
    await client.send(request)
    assert (await client.frames(1))[0].payload == SUCCESS
    server.hand_config(SERIAL, {"GridCharge": "true", "BatHighCap": "90"})
    await client.send(request)
    await client.send(request)
    answers = await client.frames(3)
    assert json.loads(answers[1].payload) == {
        "Status": "Success",
        "GridCharge": "true",
        "BatHighCap": "90",
    }
    assert answers[2].payload == SUCCESS


async def test_close_releases_port_and_tasks(
    socket_enabled: None, events: Events, connect: Callable[[int], Any]
) -> None:
    server = AlphaServer(events, host=HOST, port=0)
    await server.start()
    port = server.port
    client: RawClient = await connect(port)
    await client.send(login())
    await client.frames(1)
    battery, task = await start_battery(
        server, identity=Identity(serial="AL2000000000002")
    )
    await battery.connected.wait()
    await server.close()
    assert await client.closed_by_server()
    await stop(task)
    current = asyncio.current_task()
    assert [t for t in asyncio.all_tasks() if t is not current] == []
    again = AlphaServer(events, host=HOST, port=port)
    await again.start()
    assert again.port == port
    await again.close()


async def test_start_on_busy_port_raises(socket_enabled: None, events: Events) -> None:
    with socket.socket() as busy:
        busy.bind((HOST, 0))
        busy.listen()
        server = AlphaServer(events, host=HOST, port=busy.getsockname()[1])
        with pytest.raises(OSError, match="(?i)address already in use"):
            await server.start()
        await server.close()


async def test_dump_is_redacted(
    make_server: Callable[..., Any],
    events: Events,
    connect: Callable[[int], Any],
    tmp_path: Path,
) -> None:
    dump = TrafficDump(tmp_path / "unknown.jsonl")
    server: AlphaServer = await make_server(dump=dump)
    client: RawClient = await connect(server.port)
    await client.send(login(password="hunter2-secret"))
    broken_report = (
        b'{"SN":"AL9002021030042","Address":"1 Secret Lane","ZipCode":"Z999",'
        b'"PhoneNumber":"0499111222","License":"LIC-777","WifiSN":"WIFI-SN-1",'
        b'"InvSN":"INV-SN-1","BatterySN1":"BAT-SN-1","Generator":"0","Generator":"1"}'
    )
    await client.send(Frame(1, 4, broken_report))
    await client.send(
        Frame(1, 99, b'{"SN":"AL9002021030042","Password":"hunter2-secret"}')
    )
    damaged = bytearray(Frame(1, 16, b'{"SN":"AL9002021030042"}').encode())
    damaged[-2] ^= 0xFF
    await client.send(bytes(damaged))
    await client.send(Frame(1, 77, b"\xff\x00AL9002021030042\x01"))
    await client.frames(5)
    await events.wait_for(lambda: len(events.events) >= 5)
    await dump.flush()
    text = (tmp_path / "unknown.jsonl").read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["reason"] for line in lines] == [
        "undecodable: duplicate key 'Generator' with conflicting values",
        "unknown command",
        "crc_mismatch",
        "unknown command",
    ]
    assert lines[0]["header"] == [1, 1, 4]
    assert lines[0]["peer"].startswith("127.0.0.1:")
    assert "payload_base64" in lines[3]
    for secret in (
        SERIAL,
        "hunter2-secret",
        "1 Secret Lane",
        "Z999",
        "0499111222",
        "LIC-777",
        "WIFI-SN-1",
        "INV-SN-1",
        "BAT-SN-1",
    ):
        assert secret not in text, secret
    assert "AL90*********42" in text
    undecodable = events.messages(Undecodable)
    assert len(undecodable) == 1
    assert len(events.messages(UnknownMessage)) == 2


async def test_dump_rotates_and_bounds_backlog(tmp_path: Path) -> None:
    dump = TrafficDump(tmp_path / "d.jsonl", max_bytes=400, backups=2, max_pending=50)
    for n in range(60):
        dump.write(peer="p", reason="r", data=f"payload {n}".encode())
    assert dump.dropped == 10
    await dump.aclose()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]
    assert all((tmp_path / f).stat().st_size <= 400 for f in files)
    dump.write(peer="p", reason="r", data=b"after close")
    assert dump.dropped == 11


async def test_owner_callback_errors_do_not_kill_sessions(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(event: object) -> None:
        raise RuntimeError("owner bug")

    server: AlphaServer = await make_server(on_event=broken)
    client: RawClient = await connect(server.port)
    await client.send(login())
    await client.send(realtime())
    assert len(await client.frames(2)) == 2
    assert "Error in the AlphaESS event handler" in caplog.text


async def test_set_config_round_trip_with_the_simulator(
    server: AlphaServer, events: Events
) -> None:
    """SetConfig over loopback: the battery answers, asks for its configuration, takes
    the settings handed over and reports them; told to ignore them, it keeps its own;
    told to ignore the command, it leaves it unanswered."""

    def reports() -> list[SystemReport]:
        return events.messages(SystemReport)

    battery, task = await start_battery(server)
    try:
        await events.wait_for(lambda: bool(reports()))
        server.hand_config(SERIAL, {"GridCharge": "true", "BatHighCap": "90"})
        reply = await server.set_config(SERIAL, timeout=5)
        assert reply.status == "Success"
        await events.wait_for(lambda: reports()[-1].charge_stop_soc == 90.0)
        assert reports()[-1].grid_charge is True
        assert battery.settings["BatHighCap"] == "90"
        assert battery.model.max_soc == 90.0

        battery.control.ignore_settings = True
        server.hand_config(SERIAL, {"BatHighCap": "80"})
        asked = len(events.messages(ConfigRequest))
        await server.set_config(SERIAL, timeout=5)

        def reported_since_asked() -> list[SystemReport]:
            messages = events.messages()
            kinds = [isinstance(m, ConfigRequest) for m in messages]
            if sum(kinds) <= asked:
                return []
            last = len(kinds) - 1 - kinds[::-1].index(True)
            return [m for m in messages[last:] if isinstance(m, SystemReport)]

        await events.wait_for(lambda: bool(reported_since_asked()))
        assert battery.config_answers[-1]["BatHighCap"] == "80"  # heard, not taken
        assert reported_since_asked()[0].charge_stop_soc == 90.0
        assert battery.model.max_soc == 90.0

        battery.control.ignore_commands = {"SetConfig"}
        with pytest.raises(CommandTimeoutError):
            await server.set_config(SERIAL, timeout=0.2)
        assert battery.commands[-1].command == "SetConfig"
    finally:
        await stop(task)
