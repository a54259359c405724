"""The Modbus reader over loopback, against pymodbus's own TCP server.

The inverter here is pymodbus's ``ModbusTcpServer`` with a plain datastore filled by
the register map's encoders: a real Modbus server this project did not write. A
small proxy in front of it (``Tap``) counts on the server's side what the reader
sends (requests per poll, requests in flight), and plays the link's troubles: a
second client refused (closed at once), a link cut mid-read, an inverter that accepts
and never answers, and tells whether the reader let go with a reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
import contextlib
from datetime import datetime
import logging
import socket
import struct
from typing import Any

import pytest

from custom_components.alphaess_local.protocol.codec.records import (
    DetailedRecord,
    RealtimeRecord,
    SystemReport,
)
from custom_components.alphaess_local.protocol.modbus import compat
from custom_components.alphaess_local.protocol.modbus.events import (
    LinkRestored,
    LinkTrouble,
    Trouble,
)
from custom_components.alphaess_local.protocol.modbus.reader import (
    ModbusNoSerial,
    ModbusReader,
    ModbusSlotTaken,
    ModbusUnreachable,
    probe,
)
from custom_components.alphaess_local.protocol.modbus.registers import (
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    SETTINGS_BLOCKS,
    encode_identity,
    encode_live,
    encode_settings,
)
from custom_components.alphaess_local.protocol.server.events import (
    Disconnected,
    Received,
)
from custom_components.alphaess_local.protocol.simulator.model import Sample, Totals

from .conftest import HOST, PATIENCE, EventLog, Ticks

pytestmark = pytest.mark.usefixtures("socket_enabled")

SERIAL = "AL2002321010043"
UNIT = 85
INTERVAL = 0.05  # loop time between polls: short, the rules under test count requests
# Long enough that a loaded machine never stalls a request past it; the tests of
# silence use SILENCE_TIMEOUT, which they wait out on purpose.
REQUEST_TIMEOUT = 5.0
SILENCE_TIMEOUT = 0.3


def sample() -> Sample:
    """A fixed sunny moment of the simulator's own model, as the registers tell it."""
    return Sample(
        time=datetime(2026, 6, 21, 12, 0),
        ppv1=1500.0,
        ppv2=1200.0,
        load=2050.0,
        pbat=-800.0,
        grid=150.0,
        soc=64.0,
        totals=Totals(
            pv=1234.5,
            grid_import=321.0,
            grid_export=456.0,
            charge=789.0,
            discharge=700.0,
            grid_charge=12.3,
        ),
    )


def inverter_words(serial: str = SERIAL) -> dict[int, int]:
    words = encode_live(sample())
    words.update(encode_identity(serial))
    words.update(encode_settings({"grid_charging": True, "charge_stop_soc": 90}))
    return words


def datastore(words: dict[int, int], unit: int = UNIT) -> Any:
    """What pymodbus's server serves: ``words`` as ``unit``'s holding registers.

    pymodbus 3.12+ has ``SimDevice`` (its datastore contexts are deprecated, and in
    3.13.1 a dict of them no longer starts), whose register values are signed;
    before, a context adds 1 to each address it is asked for, so the block starts
    at 1 for register 0, and 3.10 renamed the slave context.
    """
    values = [words.get(address, 0) for address in range(max(words) + 1)]
    try:
        from pymodbus.simulator import DataType, SimData, SimDevice
    except ImportError:
        from pymodbus import datastore as ds

        device = getattr(ds, "ModbusDeviceContext", None) or ds.ModbusSlaveContext
        block = ds.ModbusSequentialDataBlock(1, values)
        return ds.ModbusServerContext({unit: device(hr=block)}, single=False)
    signed = [value - 0x10000 if value > 0x7FFF else value for value in values]
    data = SimData(0, values=signed, datatype=DataType.REGISTERS)
    return SimDevice(unit, simdata=[data])


@contextlib.asynccontextmanager
async def pymodbus_server(words: dict[int, int]) -> AsyncGenerator[int]:
    """pymodbus's own TCP server on 127.0.0.1, a free port; closed afterwards."""
    from pymodbus.server import ModbusTcpServer

    server = ModbusTcpServer(datastore(words), address=(HOST, 0))
    await server.serve_forever(background=True)
    try:
        yield server.transport.sockets[0].getsockname()[1]
    finally:
        await server.shutdown()
        await asyncio.sleep(0)


class Tap:
    """A Modbus TCP proxy in front of the inverter that counts and misbehaves.

    ``mode``: "forward" passes requests on one at a time; "silent" accepts and
    reads but never answers; "refuse" closes each new connection at once (the
    inverter's one slot taken by another client). ``cut_at``: the request number
    (1-based, all connections) on which both sides are closed, mid-poll.
    """

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.port = 0
        self.mode = "forward"
        self.cut_at: int | None = None
        # Starts answered here with a Modbus exception code (2: no such block).
        self.illegal: dict[int, int] = {}
        self.requests: list[tuple[int, int, int]] = []  # connection, start, count
        self.answered: list[tuple[int, int, int]] = []
        self.unanswered = 0  # requests read in "silent" mode
        self.max_in_flight = 0
        self.connections = 0
        self.resets = 0  # client connections that ended with an RST
        self.eofs = 0  # ... with a FIN
        self.changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, HOST, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        async with asyncio.timeout(PATIENCE):
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._server is not None:
                await self._server.wait_closed()

    async def wait_for(self, predicate: Any) -> None:
        async with asyncio.timeout(PATIENCE):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def _note(self) -> None:
        self.changed.set()

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        number = self.connections
        self._note()
        try:
            if self.mode == "refuse":
                return
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream)
            self._writers.add(up_writer)
            await self._relay(number, reader, writer, up_reader, up_writer)
        finally:
            writer.transport.abort()
            self._tasks.discard(task)
            self._note()

    async def _relay(
        self,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        in_flight = 0

        async def forward() -> None:
            nonlocal in_flight
            while True:
                request = await queue.get()
                up_writer.write(request)
                head = await up_reader.readexactly(7)
                body = await up_reader.readexactly(int.from_bytes(head[4:6]) - 1)
                start, count = struct.unpack(">HH", request[8:12])
                self.answered.append((number, start, count))
                in_flight -= 1
                writer.write(head + body)
                self._note()

        forwarder = asyncio.create_task(forward())
        self._tasks.add(forwarder)
        try:
            while True:
                try:
                    head = await reader.readexactly(7)
                    body = await reader.readexactly(int.from_bytes(head[4:6]) - 1)
                except ConnectionResetError:
                    self.resets += 1
                    return
                except asyncio.IncompleteReadError:
                    self.eofs += 1
                    return
                start, count = struct.unpack(">HH", body[1:5])
                self.requests.append((number, start, count))
                in_flight += 1
                self.max_in_flight = max(self.max_in_flight, in_flight)
                self._note()
                if self.cut_at == len(self.requests):
                    return
                if self.mode == "silent":
                    self.unanswered += 1
                    continue
                if start in self.illegal:  # answered here, as the inverter would
                    in_flight -= 1
                    code = self.illegal[start]
                    answer = (
                        head[:4] + (3).to_bytes(2) + head[6:7] + bytes([0x83, code])
                    )
                    writer.write(answer)
                    continue
                queue.put_nowait(head + body)
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forwarder
            self._tasks.discard(forwarder)
            up_writer.transport.abort()


@contextlib.asynccontextmanager
async def tapped_inverter() -> AsyncGenerator[Tap]:
    """pymodbus's server holding the inverter's words, behind a started ``Tap``."""
    async with pymodbus_server(inverter_words()) as port:
        proxy = Tap(port)
        await proxy.start()
        try:
            yield proxy
        finally:
            await proxy.close()


@pytest.fixture
async def tap() -> AsyncGenerator[Tap]:
    async with tapped_inverter() as proxy:
        yield proxy


@pytest.fixture
async def reader_for(events: EventLog, ticks: Ticks) -> AsyncGenerator[Any]:
    """Make a reader of the tap's port (short interval and timeout); closed after."""
    made: list[ModbusReader] = []

    def make(port: int, **kwargs: Any) -> ModbusReader:
        options: dict[str, Any] = {
            "host": HOST,
            "port": port,
            "unit": UNIT,
            "interval": INTERVAL,
            "ticks": ticks,
            "request_timeout": REQUEST_TIMEOUT,
            "reconnect_delay": 0.01,
            "reconnect_delay_max": 0.04,
        }
        reader = ModbusReader(events, **(options | kwargs))
        made.append(reader)
        return reader

    yield make
    for reader in made:
        await reader.close()


def record_pauses(reader: ModbusReader) -> list[float]:
    """Note each backoff pause and go on at once: the rule, not the loop's timer."""
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    reader._pause = pause  # type: ignore[method-assign]
    return pauses


def live_polls(requests: list[tuple[int, int, int]]) -> list[list[tuple[int, int]]]:
    """The requests grouped by poll: a poll starts with the first live block."""
    polls: list[list[tuple[int, int]]] = []
    for _, start, count in requests:
        if (start, count) == (LIVE_BLOCKS[0].start, LIVE_BLOCKS[0].count) or not polls:
            polls.append([])
        polls[-1].append((start, count))
    return polls


def spans(blocks: tuple[Any, ...]) -> list[tuple[int, int]]:
    return [(block.start, block.count) for block in blocks]


def received(events: EventLog, kind: type[Any]) -> list[Received]:
    return [
        e
        for e in events.events
        if isinstance(e, Received) and isinstance(e.message, kind)
    ]


async def test_a_live_poll_is_the_live_blocks_one_request_at_a_time(
    tap: Tap, reader_for: Any, events: EventLog, ticks: Ticks
) -> None:
    port = tap.port
    reader = reader_for(port)
    await reader.start()
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) >= 5)
    live = spans(LIVE_BLOCKS)
    assert len(live) <= 4
    # At connect: identity and settings, then the live blocks; then live blocks only
    # while the clock stands still.
    connect = spans(IDENTITY_BLOCKS + SETTINGS_BLOCKS)
    sent = [(start, count) for _, start, count in tap.requests]
    assert sent[: len(connect)] == connect
    polls = live_polls(tap.requests[len(connect) :])
    assert len(polls) >= 5
    assert all(poll == live for poll in polls[:5])
    assert tap.max_in_flight == 1
    assert tap.connections == 1
    assert reader.stats.last_poll_requests == len(live)

    # A minute on: the settings once more (a system report), not the identity.
    ticks.advance(60)
    reports = len(received(events, SystemReport))
    await events.wait_for(lambda: len(received(events, SystemReport)) > reports)
    later = [(start, count) for _, start, count in tap.requests[len(sent) :]]
    assert spans(SETTINGS_BLOCKS)[0] in later
    assert not set(spans(IDENTITY_BLOCKS)) & set(later)
    # An hour on: the identity again.
    ticks.advance(3600)
    count = len(tap.requests)
    await tap.wait_for(
        lambda: spans(IDENTITY_BLOCKS)[0]
        in [(s, c) for _, s, c in tap.requests[count:]]
    )
    assert tap.max_in_flight == 1


async def test_events_carry_the_records_and_the_serial(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    port = tap.port
    reader = reader_for(port)
    await reader.start()
    await events.wait_for(lambda: len(received(events, DetailedRecord)) >= 2)
    report, realtime, detailed = (
        received(events, SystemReport)[0],
        received(events, RealtimeRecord)[0],
        received(events, DetailedRecord)[0],
    )
    for event in (report, realtime, detailed):
        assert event.serial == SERIAL
        assert event.peer == f"{HOST}:{port}"
        assert event.message.serial == SERIAL
    assert realtime.message.soc == pytest.approx(64.0)
    assert realtime.message.pbat == pytest.approx(-800.0)
    assert detailed.message.e_charge == pytest.approx(789.0)
    assert report.message.battery_capacity == pytest.approx(10.1)
    # The first report comes before the first record, so the device exists first.
    assert events.events.index(report) < events.events.index(realtime)
    assert reader.connected_serials == frozenset({SERIAL})
    assert not [e for e in events.events if isinstance(e, LinkTrouble)]
    # Diagnostics: each block's reads and timings, requests per poll; no serial.
    stats = reader.stats.as_dict()
    assert stats["last_poll_requests"] == len(LIVE_BLOCKS)
    assert {b.name for b in LIVE_BLOCKS + IDENTITY_BLOCKS} <= set(stats["blocks"])
    assert all(b["reads"] >= 1 and b["failures"] == 0 for b in stats["blocks"].values())
    assert SERIAL not in repr(stats)


async def test_scales_decided_before_need_no_new_evidence(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    fresh = reader_for(tap.port)
    await fresh.start()
    await events.wait_for(lambda: bool(received(events, DetailedRecord)))
    await fresh.close()
    assert received(events, DetailedRecord)[0].message.ua is None  # not yet decided
    decided = {"grid_voltage": 1.0}
    events.events.clear()
    remembering = reader_for(tap.port, decided=decided)
    await remembering.start()
    await events.wait_for(lambda: bool(received(events, DetailedRecord)))
    assert received(events, DetailedRecord)[0].message.ua == pytest.approx(240)
    assert decided.items() <= remembering.registers.decided.items()


async def test_a_second_client_refused_is_slot_taken_once_then_restored(
    tap: Tap,
    reader_for: Any,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = tap.port
    tap.mode = "refuse"
    reader = reader_for(port)
    pauses = record_pauses(reader)
    with caplog.at_level(logging.INFO):
        await reader.start()
        await tap.wait_for(lambda: tap.connections >= 4)
        troubles = [e for e in events.events if isinstance(e, LinkTrouble)]
        assert [t.trouble for t in troubles] == [Trouble.SLOT_TAKEN]
        assert not received(events, RealtimeRecord)
        assert reader.connected_serials == frozenset()
        # One line for the whole outage, however many attempts.
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len([r for r in warnings if r.name.endswith("reader")]) == 1

        tap.mode = "forward"
        await events.wait_for(lambda: bool(received(events, RealtimeRecord)))
        # Backoff doubled to its cap while refused ...
        assert pauses[:4] == [0.01, 0.02, 0.04, 0.04]
        # ... and starts afresh once a session has had answers.
        tried = len(pauses)
        tap.cut_at = len(tap.requests) + 1
        await tap.wait_for(lambda: tap.connections >= tried + 2)
        assert pauses[tried] == 0.01
    restored = [e for e in events.events if isinstance(e, LinkRestored)]
    assert len(restored) == 1
    assert restored[0].serial == SERIAL
    assert SERIAL not in caplog.text


async def test_a_block_the_model_lacks_is_skipped_for_an_hour(
    tap: Tap,
    reader_for: Any,
    events: EventLog,
    ticks: Ticks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = LIVE_BLOCKS[1]
    tap.illegal[missing.start] = 2
    reader = reader_for(tap.port)
    with caplog.at_level(logging.INFO):
        await reader.start()
        await events.wait_for(lambda: len(received(events, RealtimeRecord)) >= 4)
        asked = [r for r in tap.requests if r[1] == missing.start]
        assert len(asked) == 1  # refused once, then left out
        assert tap.connections == 1  # no reason to drop the link
        assert reader.stats.blocks[missing.name].failures == 1
        records = len(received(events, RealtimeRecord))
        ticks.advance(3600)
        await tap.wait_for(
            lambda: len([r for r in tap.requests if r[1] == missing.start]) == 2
        )
        await events.wait_for(lambda: len(received(events, RealtimeRecord)) > records)
    lines = [r for r in caplog.records if missing.name in r.getMessage()]
    assert len(lines) == 1
    assert not [e for e in events.events if isinstance(e, LinkTrouble)]


async def test_a_gateway_whose_inverter_does_not_answer_is_silent(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    block = LIVE_BLOCKS[2]
    reader = reader_for(tap.port)
    await reader.start()
    await events.wait_for(lambda: bool(received(events, RealtimeRecord)))
    tap.illegal[block.start] = 0x0B  # gateway target device failed to respond
    await events.wait_for(
        lambda: any(isinstance(e, LinkTrouble) for e in events.events)
    )
    troubles = [e for e in events.events if isinstance(e, LinkTrouble)]
    assert [t.trouble for t in troubles] == [Trouble.SILENT]
    await events.wait_for(
        lambda: any(isinstance(e, Disconnected) for e in events.events)
    )
    # Back: the block is read again at once (no hour's pause as for a missing one).
    del tap.illegal[block.start]
    records = len(received(events, RealtimeRecord))
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) > records)
    assert len([e for e in events.events if isinstance(e, LinkRestored)]) == 1
    asked = [n for n, start, _ in tap.answered if start == block.start]
    assert asked[-1] == tap.connections


async def test_probe_through_a_gateway_whose_inverter_does_not_answer(
    tap: Tap,
) -> None:
    for block in IDENTITY_BLOCKS:
        tap.illegal[block.start] = 0x0B
    with pytest.raises(ModbusUnreachable, match="gateway"):
        await probe(HOST, tap.port, UNIT, timeout=5)


async def test_a_link_cut_mid_read_reconnects_without_a_duplicate_record(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    port = tap.port
    connect = len(IDENTITY_BLOCKS + SETTINGS_BLOCKS)
    # Cut on the second block of the third live poll.
    tap.cut_at = connect + 2 * len(LIVE_BLOCKS) + 2
    reader = reader_for(port)
    await reader.start()
    await events.wait_for(
        lambda: len([e for e in events.events if isinstance(e, Disconnected)]) == 1
    )
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) >= 6)
    await reader.close()
    # One record of each kind per complete live poll seen on the server's side.
    live = spans(LIVE_BLOCKS)
    complete = 0
    for number in range(1, tap.connections + 1):
        answered = [(s, c) for n, s, c in tap.answered if n == number]
        complete += sum(
            poll == live for poll in live_polls([(0, *a) for a in answered])
        )
    assert len(received(events, RealtimeRecord)) == complete
    assert len(received(events, DetailedRecord)) == complete
    assert tap.connections == 2
    disconnected = [e for e in events.events if isinstance(e, Disconnected)]
    assert [d.serial for d in disconnected] == [SERIAL, SERIAL]  # the cut, the close
    # A cut is no outage: no trouble told, nothing to restore.
    assert not [e for e in events.events if isinstance(e, LinkTrouble | LinkRestored)]


async def test_another_inverter_behind_the_address_gets_its_own_serial(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    other = "AL2002321010099"
    reader = reader_for(tap.port)
    await reader.start()
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) >= 2)
    first_map = reader.registers
    async with pymodbus_server(inverter_words(other)) as port:
        tap.upstream = port  # the address leads elsewhere from the next connection
        tap.cut_at = len(tap.requests) + 1
        await events.wait_for(
            lambda: any(e.serial == other for e in received(events, RealtimeRecord))
        )
        await reader.close()
    serials = [e.serial for e in events.events if isinstance(e, Received)]
    first = serials.index(other)
    assert set(serials[:first]) == {SERIAL}
    assert set(serials[first:]) == {other}
    assert received(events, SystemReport)[-1].serial == other  # its identity first
    ended = [e.serial for e in events.events if isinstance(e, Disconnected)]
    assert ended == [SERIAL, other]
    assert reader.registers is not first_map  # its scales are decided afresh


async def test_a_failing_poll_costs_the_session_not_the_reader(
    tap: Tap,
    reader_for: Any,
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = reader_for(tap.port)
    live = reader.registers.live
    failures = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures < 3:
            failures += 1
            raise RuntimeError("a rule nobody foresaw")
        return live(*args, **kwargs)

    reader.registers.live = failing  # type: ignore[method-assign]
    await reader.start()
    await events.wait_for(lambda: bool(received(events, RealtimeRecord)))
    assert failures == 3
    assert tap.connections == 4  # each failure reset the link
    await tap.wait_for(lambda: tap.resets + tap.eofs >= 3)
    assert (tap.resets, tap.eofs) == (3, 0)
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    assert len([r for r in ours if r.levelno >= logging.ERROR]) == 1


async def test_a_silent_inverter_is_told_at_its_first_unanswered_request(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    port = tap.port
    reader = reader_for(port, request_timeout=SILENCE_TIMEOUT)
    await reader.start()
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) >= 2)
    tap.mode = "silent"
    seen: list[int] = []

    def silent() -> bool:
        told = [e for e in events.events if isinstance(e, LinkTrouble)]
        if told and not seen:
            seen.append(tap.unanswered)
        return bool(told)

    await events.wait_for(silent)
    # The first request left unanswered ends the session: no retry, no second poll.
    assert seen == [1]
    troubles = [e for e in events.events if isinstance(e, LinkTrouble)]
    assert [t.trouble for t in troubles] == [Trouble.SILENT]
    await events.wait_for(
        lambda: any(isinstance(e, Disconnected) for e in events.events)
    )
    assert reader.connected_serials == frozenset()
    # Let go with a reset, reconnect, still silent: told once for the outage.
    await tap.wait_for(lambda: tap.connections >= 3)
    assert tap.resets >= 2
    assert tap.eofs == 0
    assert len([e for e in events.events if isinstance(e, LinkTrouble)]) == 1
    records = len(received(events, RealtimeRecord))
    tap.mode = "forward"
    await events.wait_for(lambda: len(received(events, RealtimeRecord)) > records)
    assert len([e for e in events.events if isinstance(e, LinkRestored)]) == 1
    assert tap.max_in_flight == 1


async def test_an_unreachable_inverter_is_told_once_and_retried_with_backoff(
    reader_for: Any, events: EventLog
) -> None:
    # A listener whose one-place queue is full: connections time out, as to a host
    # that is off or not there.
    listener = socket.socket()
    filler = socket.socket()
    try:
        listener.bind((HOST, 0))
        listener.listen(0)
        filler.connect(listener.getsockname())
        reader = reader_for(
            listener.getsockname()[1],
            request_timeout=0.2,
            reconnect_delay=1.0,
            reconnect_delay_max=60.0,
        )
        pauses = record_pauses(reader)
        await reader.start()
        async with asyncio.timeout(PATIENCE):
            while len(pauses) < 8:
                await asyncio.sleep(0.05)
        await reader.close()
    finally:
        filler.close()
        listener.close()
    assert pauses[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
    troubles = [e for e in events.events if isinstance(e, LinkTrouble)]
    assert [(t.trouble, t.serial) for t in troubles] == [(Trouble.UNREACHABLE, None)]
    assert not [e for e in events.events if isinstance(e, Received | Disconnected)]


async def test_close_is_bounded_resets_the_link_and_leaves_no_task(
    tap: Tap, reader_for: Any, events: EventLog
) -> None:
    port = tap.port
    reader = reader_for(port, request_timeout=PATIENCE)  # the request waits
    before = asyncio.all_tasks()
    await reader.start()
    await events.wait_for(lambda: bool(received(events, RealtimeRecord)))
    tap.mode = "silent"  # close while a request waits for its answer
    await tap.wait_for(lambda: tap.unanswered >= 1)
    async with asyncio.timeout(reader.close_timeout + 1):
        await reader.close()
    assert not asyncio.all_tasks() - before - tap._tasks
    await tap.wait_for(lambda: tap.resets + tap.eofs >= 1)
    assert (tap.resets, tap.eofs) == (1, 0)
    assert reader.connected_serials == frozenset()
    assert isinstance(events.events[-1], Disconnected)
    await reader.close()  # twice is harmless


async def test_probe_reads_the_serial_and_lets_go_with_a_reset(tap: Tap) -> None:
    port = tap.port
    assert await probe(HOST, port, UNIT, timeout=5) == SERIAL
    await tap.wait_for(lambda: tap.resets + tap.eofs >= 1)
    assert (tap.resets, tap.eofs) == (1, 0)
    assert [(s, c) for _, s, c in tap.requests] == spans(IDENTITY_BLOCKS)


async def test_probe_names_what_went_wrong(tap: Tap) -> None:
    port = tap.port
    tap.mode = "refuse"
    with pytest.raises(ModbusSlotTaken) as taken:
        await probe(HOST, port, UNIT, timeout=5)
    assert not taken.value.refused
    tap.mode = "silent"
    with pytest.raises(ModbusUnreachable):
        await probe(HOST, port, UNIT, timeout=SILENCE_TIMEOUT)
    # A port nobody listens on refuses the TCP connection itself.
    await tap.close()
    with pytest.raises(ModbusSlotTaken) as refused:
        await probe(HOST, port, UNIT, timeout=5)
    assert refused.value.refused


async def test_probe_of_a_unit_without_a_serial() -> None:
    words = inverter_words()
    for block in IDENTITY_BLOCKS:
        for address in block.addresses:
            words[address] = 0
    async with pymodbus_server(words) as port:
        with pytest.raises(ModbusNoSerial):
            await probe(HOST, port, UNIT, timeout=5)


async def test_compat_names_the_unit_argument_of_the_installed_pymodbus() -> None:
    import pymodbus

    major, minor = (int(part) for part in pymodbus.__version__.split(".")[:2])
    expected = "device_id" if (major, minor) >= (3, 10) else "slave"
    assert compat.unit_keyword() == expected
