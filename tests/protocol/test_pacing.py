"""One link's big history uploads, over loopback: paced, complete, and fair (#23).

A 64 KiB history frame (~1 400 rows) is parsed a few dozen rows a loop step and
handed over a few rows an event; another battery's frame is answered in between. A
link past its rows-per-minute budget waits for its ack instead of losing rows. None of
this is checked by the clock: who came before whom is, which holds on a loaded CPU.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
import logging
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    Frame,
    HistoryUpload,
    RealtimeRecord,
    decode_message,
)
from custom_components.alphaess_local.protocol.server import pacing
from custom_components.alphaess_local.protocol.server.events import Received
from custom_components.alphaess_local.protocol.server.server import AlphaServer

from .conftest import EventLog as Events, RawClient, Ticks
from .test_server import SERIAL, login, realtime

OTHER = "AL9002021030099"
# Only bounds a hang: a 64 KiB upload takes ~10 s to parse under coverage's tracer,
# several times that on a loaded machine; the tests' own limit is raised to match.
PATIENCE = 120
pytestmark = pytest.mark.time_limit(150)
HEADER = "Date,Time,SN,Ppv1,SOC"


def rows(count: int, serial: str = SERIAL, start: int = 0) -> list[str]:
    first = datetime(2021, 3, 24) + timedelta(minutes=start)
    return [
        f"{first + timedelta(minutes=n):%Y/%m/%d,%H:%M:%S},{serial},{n % 3000},33.2"
        for n in range(count)
    ]


def big_upload(limit: int = 64 * 1024) -> Frame:
    """As close to 64 KiB as fits: CRLF line ends, odd rows among ~1 400 good ones."""
    lines = [HEADER, *rows(1400)]
    lines[5] = lines[5].replace(SERIAL, OTHER)  # a row naming another battery
    lines[700] = "2021/03/24,not a time," + SERIAL + ",1,2"  # unreadable time
    lines[701] = "2021/03/24,12:00:00,damaged"  # wrong column count
    lines.insert(900, "")  # a blank line
    text = "\r\n".join(lines) + "\r\n"
    assert len(text) <= limit
    return Frame(1, 12, text.encode("ascii"))


def history(lines: list[str]) -> Frame:
    return Frame(1, 12, "\n".join([HEADER, *lines]).encode("ascii"))


def uploads(events: Events, serial: str = SERIAL) -> list[HistoryUpload]:
    return [
        e.message
        for e in events.events
        if isinstance(e, Received)
        and e.serial == serial
        and isinstance(e.message, HistoryUpload)
    ]


def finished(events: Events, count: int = 1) -> Callable[[], bool]:
    """Whether ``count`` uploads have been delivered to their last slice."""
    return lambda: sum(not u.more for u in uploads(events)) >= count


async def logged_in(server: AlphaServer, connect: Any, serial: str) -> RawClient:
    client: RawClient = await connect(server.port)
    await client.send(login(serial))
    (ack,) = await client.frames(1, timeout=PATIENCE)
    assert ack.header == (1, 2, 2)
    return client


async def test_a_64_kib_upload_arrives_whole_in_slices_and_is_acked(
    server: AlphaServer, events: Events, connect: Any
) -> None:
    frame = big_upload()
    whole = decode_message(frame)
    assert isinstance(whole, HistoryUpload)
    assert len(whole.rows) > 1300
    assert len(whole.malformed_rows) == 2
    client = await logged_in(server, connect, SERIAL)
    await client.send(frame)
    _, ack = await client.frames(2, timeout=PATIENCE)
    assert ack.header == (1, 2, 12)
    # Acknowledged once handed on: the last slice is already out.
    assert finished(events)()
    slices = uploads(events)
    # Several events, every one bounded; the last one says the frame is over.
    assert len(slices) > 10
    assert all(len(s.rows) <= pacing.ROWS_PER_EVENT for s in slices)
    assert [s.more for s in slices] == [True] * (len(slices) - 1) + [False]
    assert all(s.header == whole.header for s in slices)
    # Together they are the frame decoded at once, less the other battery's row.
    own = tuple(r for r in whole.rows if r.serial == SERIAL)
    assert len(own) == len(whole.rows) - 1
    assert tuple(r for s in slices for r in s.rows) == own
    assert tuple(m for s in slices for m in s.malformed_rows) == whole.malformed_rows
    # One event time for the whole frame.
    stamps = {e.received_at for e in events.events if isinstance(e, Received)}
    assert len(stamps) == 2  # the login's and the upload's


async def test_a_battery_is_answered_while_another_upload_is_parsed(
    server: AlphaServer,
    events: Events,
    connect: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    battery = await logged_in(server, connect, SERIAL)
    uploader = await logged_in(server, connect, OTHER)
    steps = pacing.decode_steps
    paused = 0

    def steps_that_let_the_battery_push(
        frame: Frame, rows_per_step: int
    ) -> Generator[None, None, Any]:
        nonlocal paused
        parse = steps(frame, rows_per_step)
        while True:
            try:
                next(parse)
            except StopIteration as done:
                if not paused:  # (never, unless the parse is one step)
                    battery.writer.write(realtime().encode())
                return done.value
            paused += 1
            if paused == 1:  # the parse has begun: the battery pushes now
                battery.writer.write(realtime().encode())
            yield

    monkeypatch.setattr(pacing, "decode_steps", steps_that_let_the_battery_push)
    await uploader.send(history(rows(1400, OTHER)))
    _, ack = await battery.frames(2, timeout=PATIENCE)
    assert ack.header == (1, 2, 16)
    await events.wait_for(finished_for(events, OTHER), timeout=PATIENCE)
    received = [e for e in events.events if isinstance(e, Received)][2:]
    first_slice = next(
        n for n, e in enumerate(received) if isinstance(e.message, HistoryUpload)
    )
    pushed = next(
        n for n, e in enumerate(received) if isinstance(e.message, RealtimeRecord)
    )
    # The battery's push was acknowledged and delivered before the upload's first
    # row, so before the parse ended; and only a few of its steps had run by then.
    assert pushed < first_slice
    assert paused == 1401 // pacing.ROWS_PER_STEP  # the header is a line too


def finished_for(events: Events, serial: str) -> Callable[[], bool]:
    return lambda: any(not u.more for u in uploads(events, serial))


async def test_a_battery_is_answered_while_another_upload_is_delivered(
    make_server: Callable[..., Any], events: Events, connect: Any
) -> None:
    battery: RawClient | None = None

    def on_event(event: Any) -> None:
        events(event)
        message = event.message if isinstance(event, Received) else None
        if isinstance(message, HistoryUpload) and len(uploads(events, OTHER)) == 1:
            assert battery is not None  # the first slice is out: the battery pushes
            battery.writer.write(realtime().encode())

    server: AlphaServer = await make_server(on_event=on_event)
    battery = await logged_in(server, connect, SERIAL)
    uploader = await logged_in(server, connect, OTHER)
    await uploader.send(history(rows(1400, OTHER)))
    _, ack = await battery.frames(2, timeout=PATIENCE)
    assert ack.header == (1, 2, 16)
    await events.wait_for(finished_for(events, OTHER), timeout=PATIENCE)
    order = [
        type(e.message).__name__ for e in events.events if isinstance(e, Received)
    ][2:]
    last_slice = len(order) - 1 - order[::-1].index("HistoryUpload")
    # Acked (before it is delivered) and delivered while the upload still was.
    assert order.index("RealtimeRecord") < last_slice


async def test_past_its_row_budget_a_link_waits_for_its_ack_and_loses_nothing(
    make_server: Callable[..., Any],
    events: Events,
    connect: Any,
    ticks: Ticks,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The ack (and the next read) waits for the budget; the rows all arrive.

    The budget runs on the test's clock: how long the parse takes (seconds under
    coverage's tracer) does not refill it, only ``ticks.advance`` does.
    """
    monkeypatch.setattr(pacing, "ROWS_PER_MINUTE", 100)
    waits: list[float] = []
    gate = asyncio.Event()
    waiting = asyncio.Event()

    async def pause(self: pacing.Pacer, seconds: float) -> None:
        waits.append(seconds)
        waiting.set()
        await gate.wait()
        gate.clear()

    monkeypatch.setattr(pacing.Pacer, "_pause", pause)
    server: AlphaServer = await make_server(ticks=ticks)
    client = await logged_in(server, connect, SERIAL)
    frames = [history(rows(80, start=80 * n)) for n in range(3)]
    await client.send(frames[0])  # within the budget
    await client.frames(2, timeout=PATIENCE)
    await events.wait_for(finished(events, 1), timeout=PATIENCE)
    caplog.set_level(logging.WARNING)
    await client.send(frames[1])  # 60 rows over: its ack waits
    async with asyncio.timeout(PATIENCE):
        await waiting.wait()
    waiting.clear()
    await client.send(frames[2])  # sent at once: not read while the link waits
    # Its rows come after its ack, and neither before the budget allows.
    assert sum(not u.more for u in uploads(events)) == 1
    assert waits == [60 / (100 / 60)]  # 60 rows of debt at 100 a minute: 36 s
    ticks.advance(waits[0])
    gate.set()  # the budget refilled
    await client.frames(3, timeout=PATIENCE)
    assert client.received[2].header == (1, 2, 12)
    async with asyncio.timeout(PATIENCE):
        await waiting.wait()  # the third frame was read, and it is over budget too
    assert waits[1] == 80 / (100 / 60)  # repaid, then 80 rows of debt: 48 s
    ticks.advance(waits[1])
    gate.set()
    await client.frames(4, timeout=PATIENCE)
    await events.wait_for(finished(events, 3), timeout=PATIENCE)
    got = [r.time for u in uploads(events) for r in u.rows]
    assert got == [datetime(2021, 3, 24) + timedelta(minutes=n) for n in range(240)]
    assert len(waits) == 2
    too_fast = [r for r in caplog.records if "history rows a minute" in r.message]
    assert len(too_fast) == 1


def test_the_row_budget_refills_with_time() -> None:
    budget = pacing.RowBudget(0.0, per_minute=600)
    assert budget.take(600, 0.0) == 0
    assert budget.take(10, 0.0) == pytest.approx(1.0)  # 10 rows at 10 a second
    assert budget.take(0, 1.0) == 0  # repaid
    assert budget.take(600, 1000.0) == 0  # full again, never more than full
    assert budget.take(1, 1000.0) == pytest.approx(0.1)


def test_slices_of_an_upload_are_equal_to_it() -> None:
    """The parse in steps gives what the parse at once gives."""
    frame = big_upload()
    stepped = pacing.decode_steps(frame, 7)
    pauses = 0
    while True:
        try:
            next(stepped)
        except StopIteration as done:
            result = done.value
            break
        pauses += 1
    assert result == decode_message(frame)
    assert pauses == len(frame.payload.splitlines()) // 7  # blank lines too


async def test_a_link_waiting_for_its_budget_is_dropped_at_once_when_closed(
    server: AlphaServer,
    events: Events,
    connect: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A frame of junk lines puts a link deep in debt: closing it must not wait that.

    Nor may the server's own close (a Home Assistant reload) wait for it.
    """
    monkeypatch.setattr(pacing, "ROWS_PER_MINUTE", 10)
    waiting = asyncio.Event()
    real_pause = pacing.Pacer._pause

    async def pause(self: pacing.Pacer, seconds: float) -> None:
        waiting.set()
        await real_pause(self, seconds)

    monkeypatch.setattr(pacing.Pacer, "_pause", pause)
    client = await logged_in(server, connect, SERIAL)
    junk = "\n".join([HEADER, *(["x"] * 5000)])  # 5 000 rows: 500 minutes of budget
    await client.send(Frame(1, 12, junk.encode("ascii")))
    async with asyncio.timeout(PATIENCE):
        await waiting.wait()
    async with asyncio.timeout(10):  # at once; without the wake-up, MAX_WAIT (60 s)
        await server.close()
    assert server.connection_count == 0


async def test_a_read_full_of_small_frames_lets_another_battery_in_between(
    make_server: Callable[..., Any], events: Events, connect: Any
) -> None:
    """One 64 KiB read of ~300 realtime frames is not handled in one loop step."""
    battery: RawClient | None = None

    def on_event(event: Any) -> None:
        events(event)
        heard = [e for e in events.events if getattr(e, "serial", "") == OTHER]
        if isinstance(event, Received) and event.serial == OTHER and len(heard) == 2:
            # The flood's first record is out: the battery pushes now.
            assert battery is not None
            battery.writer.write(realtime(soc="77").encode())

    server: AlphaServer = await make_server(on_event=on_event)
    battery = await logged_in(server, connect, SERIAL)
    flooder = await logged_in(server, connect, OTHER)
    burst = b"".join(realtime(OTHER, soc=str(n)).encode() for n in range(300))
    assert len(burst) < 64 * 1024
    await flooder.send(burst)
    await flooder.frames(301, timeout=PATIENCE)
    await battery.frames(2, timeout=PATIENCE)
    await events.wait_for(
        lambda: any(
            isinstance(e, Received)
            and isinstance(e.message, RealtimeRecord)
            and e.message.soc == 77
            for e in events.events
        ),
        timeout=PATIENCE,
    )
    order = [e.serial for e in events.events if isinstance(e, Received)][2:]
    # The battery's record came before the flood's last: it did not wait for 300.
    assert order.index(SERIAL) < len(order) - 1 - order[::-1].index(OTHER)


async def test_a_link_taken_over_mid_upload_says_nothing_more(
    make_server: Callable[..., Any], events: Events, connect: Any
) -> None:
    """A squatter's big upload stops at the slice where the battery took its serial."""
    battery: RawClient | None = None
    squatter_peer = ""

    def on_event(event: Any) -> None:
        events(event)
        message = event.message if isinstance(event, Received) else None
        if (
            isinstance(message, HistoryUpload)
            and event.peer == squatter_peer
            and len(uploads(events)) == 1
        ):
            assert (
                battery is not None
            )  # the squatter's first slice: the battery is back
            battery.writer.write(login(password="hunter2").encode())

    server: AlphaServer = await make_server(on_event=on_event)
    first: RawClient = await connect(server.port)  # the battery, earlier: pinned
    await first.send(login(password="hunter2"))
    await first.send(realtime())
    await first.frames(2)
    await first.close()
    await events.wait_for(lambda: not server.connected_serials)
    battery = await connect(server.port)
    squatter: RawClient = await connect(server.port)
    await squatter.send(realtime(soc="1"))  # no login: it holds the serial, unproven
    await squatter.frames(1)
    squatter_peer = "127.0.0.1:{}".format(squatter.writer.get_extra_info("sockname")[1])
    await squatter.send(history(rows(400)))
    assert await squatter.closed_by_server(timeout=PATIENCE)
    await battery.frames(1, timeout=PATIENCE)
    async with asyncio.timeout(PATIENCE):  # the squatter's session has ended
        while server.connection_count > 1:
            await asyncio.sleep(0.01)
    slices = [
        e
        for e in events.events
        if isinstance(e, Received)
        and e.peer == squatter_peer
        and isinstance(e.message, HistoryUpload)
    ]
    assert 1 <= len(slices) < 400 // pacing.ROWS_PER_EVENT
    assert all(s.message.more for s in slices)  # the upload never "ended"
