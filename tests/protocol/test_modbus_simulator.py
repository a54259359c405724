"""The simulated inverter over Modbus TCP, checked with a plain pymodbus client.

Not our reader: a client this project did not write reads what the simulator serves,
so the reader's tests against the simulator test the reader, not a shared mistake.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

from pymodbus.client import AsyncModbusTcpClient
import pytest

from custom_components.alphaess_local.protocol import RealtimeRecord, cli
from custom_components.alphaess_local.protocol.modbus.registers import (
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    SETTINGS_BLOCKS,
    Block,
    RegisterMap,
    read_serial,
)
from custom_components.alphaess_local.protocol.server.server import AlphaServer
from custom_components.alphaess_local.protocol.simulator import DEFAULT_SERIAL

from .conftest import EventLog
from .modbus_server import (
    HOST,
    PATIENCE,
    UNIT,
    SimulatedInverter,
    expected_registers,
    simulated_inverter,
    unit_argument,
    wait_until,
)
from .test_cli import OTHER, free_port, stop_after

ALL_BLOCKS = (*LIVE_BLOCKS, *IDENTITY_BLOCKS, *SETTINGS_BLOCKS)
SERIAL_BLOCK = next(b for b in IDENTITY_BLOCKS if b.start <= 0x0743 < b.start + b.count)
SETTINGS_BLOCK = next(b for b in SETTINGS_BLOCKS if 0x084F in b.addresses)
BATTERY_BLOCK = next(b for b in LIVE_BLOCKS if b.start <= 0x0102 < b.start + b.count)


async def connect(inverter: SimulatedInverter) -> AsyncModbusTcpClient:
    """A plain pymodbus client, connected (no retries: a failure shows at once)."""
    client = AsyncModbusTcpClient(HOST, port=inverter.port, timeout=PATIENCE, retries=0)
    async with asyncio.timeout(PATIENCE):
        assert await client.connect()
    return client


async def read_block(client: AsyncModbusTcpClient, block: Block) -> dict[int, int]:
    async with asyncio.timeout(PATIENCE):
        response = await client.read_holding_registers(
            block.start, count=block.count, **unit_argument()
        )
    assert not response.isError(), response
    return dict(zip(block.addresses, response.registers, strict=True))


def read_request(transaction: int, address: int, count: int) -> bytes:
    """A function-3 request as on the wire (MBAP header, unit 85)."""
    return struct.pack(">HHHBBHH", transaction, 0, 6, UNIT, 3, address, count)


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One Modbus TCP answer: its transaction id and PDU."""
    async with asyncio.timeout(PATIENCE):
        header = await reader.readexactly(7)
        transaction, _, length, _ = struct.unpack(">HHHB", header)
        return transaction, await reader.readexactly(length - 1)


async def test_registers_are_the_models_encoding(socket_enabled: None) -> None:
    """Every block a poll reads holds the register map's encoding of the model now."""
    async with simulated_inverter() as inverter:
        client = await connect(inverter)
        try:
            for moment in range(2):
                if moment:  # the model moves on; the registers follow at refresh
                    inverter.clock.advance(600)
                    await inverter.server.refresh()
                expected = expected_registers(inverter)
                words: dict[int, int] = {}
                for block in ALL_BLOCKS:
                    words |= await read_block(client, block)
                assert words == {a: expected.get(a, 0) for a in words}
                # ... and they say what the model says, through the reader's map.
                sample = inverter.sample()
                realtime, _ = RegisterMap().live(
                    words, serial=inverter.identity.serial, at=sample.time
                )
                assert realtime.soc == pytest.approx(sample.soc, abs=0.1)
                assert realtime.ppv1 == pytest.approx(sample.ppv1, abs=1)
                report = RegisterMap().identity(words, serial=inverter.identity.serial)
                assert report.battery_capacity == inverter.model.capacity_kwh
            assert words[0x0743] == int.from_bytes(b"AL")
        finally:
            client.close()


async def test_overrides_hold_nonsense_over_the_model(socket_enabled: None) -> None:
    """A test's nonsense (a sentinel, a jump) stays in its register across refreshes."""
    async with simulated_inverter() as inverter:
        inverter.server.overrides[0x0126] = 0x7FFF  # battery power: "not available"
        await inverter.server.refresh()
        inverter.clock.advance(60)
        await inverter.server.refresh()
        client = await connect(inverter)
        try:
            assert (await read_block(client, BATTERY_BLOCK))[0x0126] == 0x7FFF
        finally:
            client.close()


async def test_a_link_cut_mid_read(socket_enabled: None) -> None:
    """``on_request`` may cut the link before the answer: the client sees the cut."""
    async with simulated_inverter() as inverter:
        server = inverter.server
        server.on_request = lambda request: (
            server.drop_connections() if request.address == 0x0100 else None
        )
        reader, writer = await asyncio.open_connection(HOST, inverter.port)
        try:
            writer.write(read_request(1, 0x0010, 35))
            await answer(reader)
            writer.write(read_request(2, 0x0100, 46))
            with pytest.raises(ConnectionResetError):
                async with asyncio.timeout(PATIENCE):
                    await reader.read(100)
        finally:
            writer.close()
        assert server.request_count == 2
        await wait_until(lambda: server.connections == 0)
        server.on_request = None
        client = await connect(inverter)  # the slot is free again
        try:
            assert await read_block(client, BATTERY_BLOCK)
        finally:
            client.close()


async def test_a_second_client_is_closed_while_one_is_connected(
    socket_enabled: None,
) -> None:
    """The inverter's one slot: a second connection is closed at once, the first lives."""
    async with simulated_inverter() as inverter:
        first = await connect(inverter)
        try:
            reader, writer = await asyncio.open_connection(HOST, inverter.port)
            async with asyncio.timeout(PATIENCE):
                assert await reader.read(100) == b""  # closed before any answer
            writer.close()
            assert inverter.server.refused == 1
            assert await read_block(first, SETTINGS_BLOCK)
        finally:
            first.close()
        # The slot is free again once the first client has gone.
        await wait_until(lambda: inverter.server.connections == 0)
        for _ in range(3):  # clients come and go; those gone are forgotten
            second = await connect(inverter)
            try:
                assert await read_block(second, SETTINGS_BLOCK)
            finally:
                second.close()
            await wait_until(lambda: inverter.server.connections == 0)
        assert len(inverter.server._connections) <= 1


async def test_a_refusal_can_be_a_reset(socket_enabled: None) -> None:
    async with simulated_inverter(refuse_with_reset=True) as inverter:
        first = await connect(inverter)
        try:
            reader, writer = await asyncio.open_connection(HOST, inverter.port)
            with pytest.raises(ConnectionResetError):
                async with asyncio.timeout(PATIENCE):
                    await reader.read(100)
            writer.close()
        finally:
            first.close()


async def test_many_clients_when_the_limit_is_off(socket_enabled: None) -> None:
    async with simulated_inverter(one_client=False) as inverter:
        clients = [await connect(inverter) for _ in range(2)]
        try:
            for client in clients:
                assert await read_block(client, SETTINGS_BLOCK)
            assert inverter.server.refused == 0
        finally:
            for client in clients:
                client.close()


async def test_a_written_setting_reaches_the_battery(socket_enabled: None) -> None:
    """Settings registers are writable and the battery obeys them as a SetConfig."""
    async with simulated_inverter() as inverter:
        client = await connect(inverter)
        unit = unit_argument()
        try:
            async with asyncio.timeout(PATIENCE):
                stop = await client.write_register(0x0855, 90, **unit)
                control = await client.write_register(0x084F, 1, **unit)
                # Charge window 1: 02:30 to 05:15 (hours, then minutes).
                hours = await client.write_registers(0x0856, [2, 5], **unit)
                minutes = await client.write_registers(0x085E, [30, 15], **unit)
                feed_in = await client.write_register(0x0800, 50, **unit)
            for response in (stop, control, hours, minutes, feed_in):
                assert not response.isError(), response
            assert inverter.model.max_soc == 90
            settings = inverter.control.settings
            assert settings["BatHighCap"] == "90"
            assert settings["GridCharge"] == "true"
            assert (settings["TimeChaF1"], settings["TimeChaE1"]) == ("2", "5")
            assert inverter.settings()["charge_window_1_start_minute"] == 30
            assert settings["SetFeed"] == "50"
            # The registers keep what was written across a refresh from the model.
            await inverter.server.refresh()
            block = await read_block(client, SETTINGS_BLOCK)
            assert (block[0x0855], block[0x084F], block[0x085E]) == (90, 1, 30)
            assert [a for a, _ in inverter.server.writes] == [
                0x0855,
                0x084F,
                0x0856,
                0x085E,
                0x0800,
            ]
            # A battery that ignores settings: the register falls back at refresh.
            inverter.control.ignore_settings = True
            async with asyncio.timeout(PATIENCE):
                await client.write_register(0x0850, 30, **unit)
            await inverter.server.refresh()
            assert (await read_block(client, SETTINGS_BLOCK))[0x0850] == 10
            assert inverter.model.min_soc == 10
        finally:
            client.close()


async def test_a_silent_inverter_reads_and_never_answers(socket_enabled: None) -> None:
    """Silent: the request is read and never answered (the next answer is not its)."""
    async with simulated_inverter(silent=True) as inverter:
        reader, writer = await asyncio.open_connection(HOST, inverter.port)
        try:
            writer.write(read_request(1, 0x0743, 8))
            await wait_until(lambda: inverter.server.request_count == 1)
            inverter.server.silent = False
            writer.write(read_request(2, 0x0743, 8))
            transaction, pdu = await answer(reader)
            # In order on one stream: had the first been answered, its answer came first.
            assert transaction == 2
            assert pdu[:2] == bytes([3, 16])
        finally:
            writer.close()


async def test_requests_in_flight_are_counted(socket_enabled: None) -> None:
    """What the reader's tests hold it to: requests, blocks, and never two in flight."""
    async with simulated_inverter() as inverter:
        reader, writer = await asyncio.open_connection(HOST, inverter.port)
        try:
            writer.write(read_request(1, 0x0010, 35))
            await answer(reader)
            writer.write(read_request(2, 0x0100, 46))
            await answer(reader)
            assert inverter.server.max_in_flight == 1
            # A second sent before the first is answered (the inverter asleep for the
            # first): two in flight. (pymodbus's server answers one frame per segment,
            # so two requests in one write would not test this.)
            inverter.server.silent = True
            writer.write(read_request(3, 0x0400, 65))
            await wait_until(lambda: inverter.server.request_count == 3)
            writer.write(read_request(4, 0x0090, 19))
            await wait_until(lambda: inverter.server.request_count == 4)
            assert inverter.server.max_in_flight == 2
            requests = list(inverter.server.requests)
            assert [(r.function, r.address, r.count) for r in requests] == [
                (3, 0x0010, 35),
                (3, 0x0100, 46),
                (3, 0x0400, 65),
                (3, 0x0090, 19),
            ]
            assert {r.connection for r in requests} == {1}
        finally:
            writer.close()


async def test_close_is_bounded_and_leaves_nothing(socket_enabled: None) -> None:
    """Closing with a client waiting on an unanswered request: bounded, no task left.

    And stopped is stopped: the port refuses until the inverter starts again there.
    """
    before = asyncio.all_tasks()
    async with simulated_inverter(silent=True, refresh_interval=0.01) as inverter:
        reader, writer = await asyncio.open_connection(HOST, inverter.port)
        writer.write(read_request(1, 0x0743, 8))
        await wait_until(lambda: inverter.server.request_count == 1)
        async with asyncio.timeout(PATIENCE):
            await inverter.close()
            assert await reader.read(100) == b""
        writer.close()
        assert asyncio.all_tasks() <= before | {asyncio.current_task()}
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, inverter.port)
        inverter.server.silent = False
        await inverter.start()
        client = await connect(inverter)
        try:
            assert await read_block(client, IDENTITY_BLOCKS[0])
        finally:
            client.close()


async def test_a_stopped_inverter_refuses(socket_enabled: None) -> None:
    async with simulated_inverter(stopped=True) as inverter:
        assert not inverter.server.running
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, inverter.port)


@pytest.mark.usefixtures("socket_enabled")
def test_simulate_serves_the_same_battery_over_modbus(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``simulate --modbus-port``: the cloud link and Modbus tell the same battery."""
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    cloud_port, modbus_port = free_port(), free_port()
    seen: dict[str, Any] = {}

    async def drive(simulate: asyncio.Task[None]) -> None:
        events = EventLog()
        server = AlphaServer(events, host=HOST, port=cloud_port)
        await server.start()
        try:
            await events.wait_for(lambda: bool(events.messages(RealtimeRecord)))
            client = AsyncModbusTcpClient(
                HOST, port=modbus_port, timeout=PATIENCE, retries=0
            )
            async with asyncio.timeout(PATIENCE):
                assert await client.connect()
            try:
                seen["words"] = await read_block(client, SERIAL_BLOCK)
                seen["words"] |= await read_block(client, BATTERY_BLOCK)
            finally:
                client.close()
        finally:
            await server.close()
        seen["cloud"] = events.messages(RealtimeRecord)[-1]

    stop_after(monkeypatch, "_simulate", drive)
    argv = ["simulate", "--host", HOST, "--port", str(cloud_port)]
    argv += ["--serial", OTHER, "--modbus-port", str(modbus_port)]
    assert cli.main(argv) == 0
    assert read_serial(seen["words"]) == OTHER
    soc = seen["words"][0x0102] / 10  # 0.1 %
    # The same model, read a moment apart (the battery's clock runs at 1x).
    assert soc == pytest.approx(seen["cloud"].soc, abs=0.5)
    assert f"Modbus TCP on {HOST}:{modbus_port}, unit 85" in capsys.readouterr().err


def test_simulate_no_cloud_needs_a_modbus_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    with pytest.raises(SystemExit, match="--no-cloud needs --modbus-port"):
        cli.main(["simulate", "--no-cloud"])


@pytest.mark.usefixtures("socket_enabled")
def test_simulate_without_cloud_answers_modbus_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging, "basicConfig", lambda **_: None)
    modbus_port = free_port()
    seen: dict[str, Any] = {}

    async def drive(simulate: asyncio.Task[None]) -> None:
        client = AsyncModbusTcpClient(
            HOST, port=modbus_port, timeout=PATIENCE, retries=0
        )
        async with asyncio.timeout(PATIENCE):
            while not await client.connect():  # until the simulator listens
                await asyncio.sleep(0.05)
        try:
            seen["words"] = await read_block(client, SERIAL_BLOCK)
        finally:
            client.close()
        assert not simulate.done()

    stop_after(monkeypatch, "_simulate", drive)
    argv = ["simulate", "--no-cloud", "--modbus-port", str(modbus_port)]
    assert cli.main(argv) == 0
    assert read_serial(seen["words"]) == DEFAULT_SERIAL


async def test_a_port_in_use_is_an_os_error(socket_enabled: None) -> None:
    """Whichever way pymodbus says it (a warning, an exception), the caller sees OSError."""
    async with simulated_inverter() as inverter:
        other = SimulatedInverter(host=HOST, port=inverter.port)
        with pytest.raises(OSError, match="cannot listen"):
            await other.start()
        assert not other.server.running
        await other.close()
