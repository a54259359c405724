"""The opt-in cloud relay over loopback: a scripted cloud, and our own server upstream.

Checks what issue #22 asks of it: frames reach the cloud byte for byte and in order
(split and coalesced on the battery's side too) after the battery's acknowledgement;
what the cloud sends passes the command firewall or is refused; an absent or stalled
cloud neither delays the battery nor grows memory; with the relay off, nothing ever
connects out. Issue #28: a cloud that accepts and stays silent (never reads, or reads
and never answers) is out of reach too, and closing a link never waits for the cloud.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import json
import socket
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    AlphaServer,
    CloudSettings,
    Frame,
    FrameDecoder,
    RealtimeRecord,
    acknowledge,
    config_answer,
    relay as relay_module,
)
from custom_components.alphaess_local.protocol.codec.messages import ServerCommand
from custom_components.alphaess_local.protocol.relay import (
    CommandKind,
    RelayPolicy,
    RelayStats,
    UpstreamLink,
)

from .conftest import HOST, EventLog, RawClient
from .test_server import SERIAL, login


def realtime(soc: int) -> Frame:
    body = {"Time": f"2021/03/24 10:01:{soc:02d}", "SN": SERIAL, "SOC": str(soc)}
    return Frame(1, 16, json.dumps(body).encode())


def command(name: str, index: str, *parameters: str) -> Frame:
    body = {"CmdIndex": index, "Command": name}
    body |= {f"Parameter{n}": p for n, p in enumerate(parameters, 1)}
    return Frame(1, 8, json.dumps(body).encode())


class ScriptedCloud:
    """A cloud that keeps every byte it receives and acknowledges every request."""

    def __init__(self, *, reads: bool = True) -> None:
        # What this cloud answers a configuration request with (None: Success only).
        self.settings: dict[str, str] | None = None
        self.received = bytearray()
        self.frames: list[Frame] = []
        self.replies: list[dict[str, Any]] = []
        self.connections = 0
        self.reads = reads
        # False: it reads everything and answers nothing (switchable at any time).
        self.answers = True
        self.writers: list[asyncio.StreamWriter] = []
        self.handlers: set[asyncio.Task[Any]] = set()
        self.changed = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.stopped = False

    async def start(self, port: int = 0, *, rcvbuf: int | None = None) -> None:
        if rcvbuf is None:
            self.server = await asyncio.start_server(self._serve, HOST, port)
        else:  # a small receive window: a cloud that stops reading fills it at once
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((HOST, port))
            self.server = await asyncio.start_server(self._serve, sock=sock)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        # A connection accepted just now may not have reached _serve yet: it must
        # not start serving (a silent cloud would sleep on, and wait_closed() with it).
        self.stopped = True
        if self.server is not None:
            self.server.close()
            self.server.abort_clients()
        for writer in self.writers:
            writer.transport.abort()
        for task in self.handlers:
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)
        if self.server is not None:
            await self.server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.stopped:
            writer.transport.abort()
            return
        self.connections += 1
        self.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        if not self.reads:
            await asyncio.sleep(3600)
        decoder = FrameDecoder()
        while data := await reader.read(65536):
            self.received += data
            for frame in decoder.feed(data):
                if not isinstance(frame, Frame):
                    continue
                if frame.kind == 1:
                    self.frames.append(frame)
                    if not self.answers:
                        continue
                    answer = (
                        config_answer(self.settings)
                        if frame.command == 3 and self.settings
                        else acknowledge(frame)
                    )
                    writer.write(answer.encode())
                else:
                    self.replies.append(json.loads(frame.payload))
            self.changed.set()

    def send(self, frame: Frame) -> None:
        self.writers[-1].write(frame.encode())

    async def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 10
    ) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


async def eventually(predicate: Callable[[], bool], timeout: float = 10) -> None:
    """For what the relay counts: no event to wait on, so poll."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


@pytest.fixture
async def cloud(socket_enabled: None) -> AsyncGenerator[ScriptedCloud]:
    scripted = ScriptedCloud()
    await scripted.start()
    yield scripted
    await scripted.stop()


async def absent_cloud(monkeypatch: pytest.MonkeyPatch) -> int:
    """A port where the cloud will be, nothing listening yet; retries come fast."""
    monkeypatch.setattr(relay_module, "RECONNECT_MIN", 0.05)
    monkeypatch.setattr(relay_module, "RECONNECT_MAX", 0.1)
    later = ScriptedCloud()
    await later.start()
    await later.stop()
    return later.port


async def relayed(
    make_server: Callable[..., Any], port: int, **policy: Any
) -> AlphaServer:
    server: AlphaServer = await make_server(relay=RelayPolicy(HOST, port, **policy))
    return server


async def test_frames_reach_the_cloud_byte_for_byte_in_order_split_and_coalesced(
    cloud: ScriptedCloud,
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    events: EventLog,
) -> None:
    server = await relayed(make_server, cloud.port)
    battery: RawClient = await connect(server.port)
    sent = [login(), *(realtime(n) for n in range(1, 7))]
    wire = b"".join(frame.encode() for frame in sent)
    await battery.send(sent[0])
    await battery.frames(1)  # acknowledged here, whatever the cloud does
    rest = wire[len(sent[0].encode()) :]
    # Split across reads, then two frames in one write.
    await battery.send(rest[:7])
    await battery.send(rest[7:50])
    await battery.send(rest[50:])
    await battery.frames(len(sent))
    await cloud.wait_for(lambda: len(cloud.frames) == len(sent))
    assert bytes(cloud.received) == wire
    stats = server.relay_stats[SERIAL]
    await eventually(lambda: stats.forwarded == len(sent))
    assert (stats.queued, stats.dropped, stats.blocked) == (0, 0, 0)
    assert [r.soc for r in events.messages(RealtimeRecord)] == [1, 2, 3, 4, 5, 6]


async def test_our_own_server_upstream_hears_the_battery(
    make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    upstream_events = EventLog()
    upstream: AlphaServer = await make_server(on_event=upstream_events)
    server = await relayed(make_server, upstream.port)
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.send(realtime(5))
    await battery.frames(2)
    await upstream_events.wait_for(
        lambda: len(upstream_events.messages(RealtimeRecord)) == 1
    )
    assert upstream.connected_serials == {SERIAL}


async def test_a_refused_peer_is_never_forwarded(
    cloud: ScriptedCloud, make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server: AlphaServer = await make_server(
        relay=RelayPolicy(HOST, cloud.port), allowlist=["AL2000000000002"]
    )
    stranger: RawClient = await connect(server.port)
    await stranger.send(login())
    await stranger.send(realtime(1))
    assert await stranger.closed_by_server(timeout=2)
    await asyncio.sleep(0.2)
    assert cloud.connections == 0
    assert cloud.received == b""


@pytest.mark.parametrize("kind", list(CommandKind))
async def test_the_firewall_refuses_every_command_by_default(
    cloud: ScriptedCloud,
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    kind: CommandKind,
) -> None:
    server = await relayed(make_server, cloud.port)
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    await cloud.wait_for(lambda: len(cloud.frames) == 1)
    name = "Mystery" if kind is CommandKind.UNKNOWN else str(kind)
    cloud.send(command(name, "4711", "http://www.alphaess.com/fw.bin"))
    await cloud.wait_for(lambda: len(cloud.replies) == 1)
    assert cloud.replies == [{"Command": name, "CmdIndex": "4711", "Status": "Failed"}]
    assert server.relay_stats[SERIAL].blocked == 1
    # Nothing reached the battery: its next frame gets its ack and nothing else.
    await battery.send(realtime(1))
    assert [f.header for f in await battery.frames(2)] == [(1, 2, 2), (1, 2, 16)]


async def test_a_passed_command_goes_to_the_battery_under_our_index_and_back(
    cloud: ScriptedCloud, make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server = await relayed(
        make_server, cloud.port, passed=frozenset({CommandKind.RESUME})
    )
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    await cloud.wait_for(lambda: len(cloud.frames) == 1)
    cloud.send(command("Resume", "900001", "2021/03/24 09:40:13", "21"))
    (_, passed) = await battery.frames(2)
    asked = json.loads(passed.payload)
    assert passed.header == (1, 1, 8)
    assert asked["Command"] == "Resume"
    assert asked["Parameter1"] == "2021/03/24 09:40:13"
    assert asked["CmdIndex"] != "900001"  # ours, never mixed with the cloud's
    reply = {"Command": "Resume", "CmdIndex": asked["CmdIndex"], "Status": "Success"}
    await battery.send(Frame(2, 8, json.dumps(reply).encode()))
    await cloud.wait_for(lambda: len(cloud.replies) == 1)
    assert cloud.replies == [
        {"Command": "Resume", "CmdIndex": "900001", "Status": "Success"}
    ]
    # The battery's reply to the cloud's command is not forwarded as a frame of its own.
    assert all(f.kind == 1 for f in cloud.frames)
    assert server.relay_stats[SERIAL].passed == 1


async def test_the_relay_never_connects_to_our_own_listener(
    make_server: Callable[..., Any], connect: Callable[[int], Any], events: EventLog
) -> None:
    """The cloud's name may resolve to us: the battery's login, relayed to ourselves,
    would take its own link from it."""
    server: AlphaServer = await make_server()
    server.relay = RelayPolicy(HOST, server.port)
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    await asyncio.sleep(0.3)
    await battery.send(realtime(7))
    await battery.frames(2)
    assert server.connection_count == 1  # only the battery
    assert not server.relay_stats[SERIAL].connected
    assert [r.soc for r in events.messages(RealtimeRecord)] == [7]


def test_dropping_a_frame_in_flight_does_not_shift_the_acknowledgements() -> None:
    queue = relay_module.RelayQueue(limit_frames=3, limit_bytes=1 << 20)
    for data in (b"a", b"b", b"c"):
        queue.push(data)
    assert queue.unsent() == [b"a", b"b", b"c"]  # all in flight
    assert queue.push(b"d") == 1  # room made by dropping "a", still in flight
    assert queue.acknowledged() is False  # the reply that was due for "a"
    assert queue.acknowledged() is True  # "b"
    assert list(queue.frames) == [b"c", b"d"]
    queue.link_lost()
    assert queue.unsent() == [b"c", b"d"]


async def test_a_passed_setconfig_hands_the_battery_the_clouds_settings(
    cloud: ScriptedCloud,
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    events: EventLog,
) -> None:
    server = await relayed(
        make_server, cloud.port, passed=frozenset({CommandKind.SET_CONFIG})
    )
    cloud.settings = {"GridCharge": "1", "TimeChaf1": "2"}
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    await cloud.wait_for(lambda: len(cloud.frames) == 1)
    cloud.send(command("SetConfig", "77"))
    (_, asked) = await battery.frames(2)
    index = json.loads(asked.payload)["CmdIndex"]
    reply = {"Command": "SetConfig", "CmdIndex": index, "Status": "Success"}
    await battery.send(Frame(2, 8, json.dumps(reply).encode()))
    await cloud.wait_for(lambda: len(cloud.replies) == 1)
    # The battery asks for its configuration: it gets the cloud's settings.
    await battery.send(Frame(1, 3, json.dumps({"SN": SERIAL}).encode()))
    (*_, answer) = await battery.frames(3)
    assert answer.header == (1, 2, 3)
    assert json.loads(answer.payload) == {
        "Status": "Success",
        "GridCharge": "1",
        "TimeChaf1": "2",
    }
    (told,) = [e for e in events.events if isinstance(e, CloudSettings)]
    assert told.settings == {"GridCharge": "1", "TimeChaf1": "2"}
    # Without a SetConfig from the cloud, ours is the answer, at once.
    await battery.send(Frame(1, 3, json.dumps({"SN": SERIAL}).encode()))
    (*_, plain) = await battery.frames(4)
    assert json.loads(plain.payload) == {"Status": "Success"}


async def test_the_cloud_has_at_most_two_commands_at_the_battery(
    cloud: ScriptedCloud, make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server = await relayed(
        make_server, cloud.port, passed=frozenset({CommandKind.RESUME})
    )
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.frames(1)
    await cloud.wait_for(lambda: len(cloud.frames) == 1)
    for n in range(5):
        cloud.send(command("Resume", f"90000{n}", "2021/03/24 09:40:13", "1"))
    await cloud.wait_for(lambda: len(cloud.replies) == 3)
    assert {r["Status"] for r in cloud.replies} == {"Failed"}
    passed = await battery.frames(3)
    assert [f.header for f in passed[1:]] == [(1, 1, 8), (1, 1, 8)]
    stats = server.relay_stats[SERIAL]
    assert (stats.passed, stats.blocked) == (2, 3)


async def test_update_is_refused_unless_allowed_explicitly() -> None:
    assert CommandKind.UPDATE not in RelayPolicy("h", 1).passed


async def test_an_absent_cloud_delays_nothing_and_the_queue_drains_in_order(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = await absent_cloud(monkeypatch)
    server = await relayed(make_server, port)
    battery: RawClient = await connect(server.port)
    sent = [login(), *(realtime(n) for n in range(1, 21))]
    for n, frame in enumerate(sent, 1):
        await battery.send(frame)
        await battery.frames(n)  # each acknowledged at once
    stats = server.relay_stats[SERIAL]
    assert not stats.connected
    assert stats.queued == len(sent)
    assert stats.unreachable_since is not None
    back = ScriptedCloud()
    await back.start(port)
    try:
        await back.wait_for(lambda: len(back.frames) == len(sent))
        assert bytes(back.received) == b"".join(f.encode() for f in sent)
        await eventually(lambda: stats.queued == 0)
        assert stats.connected
        assert stats.dropped == 0
    finally:
        await server.close()  # the relay first: it would reconnect to a closing cloud
        await back.stop()


async def test_every_upstream_connection_starts_with_the_batterys_login(
    cloud: ScriptedCloud, make_server: Callable[..., Any], connect: Callable[[int], Any]
) -> None:
    server = await relayed(make_server, cloud.port)
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.send(realtime(1))
    await battery.frames(2)
    await cloud.wait_for(lambda: len(cloud.frames) == 2)
    stats = server.relay_stats[SERIAL]
    await eventually(lambda: stats.forwarded == 2)
    cloud.writers[-1].transport.abort()  # the cloud drops the link
    await eventually(lambda: cloud.connections == 2 and stats.connected)
    await battery.send(realtime(2))
    await battery.frames(3)
    await cloud.wait_for(lambda: len(cloud.frames) == 4)
    assert [f.command for f in cloud.frames] == [2, 16, 2, 16]
    assert cloud.frames[3].encode() == realtime(2).encode()
    # The login's reply is not taken for the record's: both counted right.
    await eventually(lambda: stats.forwarded == 3 and stats.queued == 0)


async def test_frames_queued_in_an_outage_survive_the_batterys_own_reconnect(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = await absent_cloud(monkeypatch)
    server = await relayed(make_server, port)
    first: RawClient = await connect(server.port)
    await first.send(login())
    await first.send(realtime(1))
    await first.frames(2)
    await first.close()  # the battery's Wi-Fi drops too
    async with asyncio.timeout(5):
        while server.connected_serials:
            await asyncio.sleep(0.01)
    again: RawClient = await connect(server.port)
    await again.send(realtime(2))
    await again.frames(1)
    back = ScriptedCloud()
    await back.start(port)
    try:
        await back.wait_for(lambda: len(back.frames) == 3)
        assert [f.encode() for f in back.frames] == [
            login().encode(),
            realtime(1).encode(),
            realtime(2).encode(),
        ]
        assert server.relay_stats[SERIAL].dropped == 0
    finally:
        await server.close()
        await back.stop()


async def test_a_cloud_that_never_reads_grows_no_memory_past_the_bound(
    make_server: Callable[..., Any], connect: Callable[[int], Any], socket_enabled: None
) -> None:
    stalled = ScriptedCloud(reads=False)
    await stalled.start()
    try:
        server = await relayed(make_server, stalled.port, queue_frames=10)
        battery: RawClient = await connect(server.port)
        await battery.send(login())
        for n in range(1, 41):
            await battery.send(realtime(n % 60))
        await battery.frames(41)  # every frame acknowledged, nothing waited
        stats = server.relay_stats[SERIAL]
        assert stats.queued <= 10
        assert stats.dropped == 41 - 10
        await server.close()  # the relay first: it would reconnect to a closing cloud
    finally:
        await stalled.stop()


async def test_with_the_relay_off_nothing_connects_out(
    server: AlphaServer,
    connect: Callable[[int], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[tuple[str, int]] = []

    async def refuse(host: str, port: int) -> Any:
        attempts.append((host, port))
        raise AssertionError("the relay is off: nothing may connect out")

    monkeypatch.setattr(relay_module, "_open", refuse)
    battery: RawClient = await connect(server.port)
    await battery.send(login())
    await battery.send(realtime(1))
    await battery.frames(2)
    await asyncio.sleep(0.1)
    assert attempts == []
    assert server.relay_stats == {}


async def test_a_cloud_that_accepts_and_drops_at_once_is_unreachable(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A firewall or a dead cloud behind a load balancer: connected, never answered."""
    monkeypatch.setattr(relay_module, "RECONNECT_MIN", 0.05)
    monkeypatch.setattr(relay_module, "RECONNECT_MAX", 0.1)
    accepted = 0

    async def drop(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.transport.abort()

    dropper = await asyncio.start_server(drop, HOST, 0)
    port = dropper.sockets[0].getsockname()[1]
    try:
        server = await relayed(make_server, port)
        battery: RawClient = await connect(server.port)
        await battery.send(login())
        await battery.frames(1)
        stats = server.relay_stats[SERIAL]
        await eventually(lambda: accepted >= 2 and stats.unreachable_since is not None)
        warnings = [r for r in caplog.records if "cannot reach the cloud" in r.message]
        assert len(warnings) == 1  # once per outage, not once per link
        assert "without answering" in warnings[0].message
    finally:
        dropper.close()
    # The cloud answers again: reached, no longer reported.
    back = ScriptedCloud()
    await back.start(port)
    try:
        await eventually(lambda: stats.unreachable_since is None)
    finally:
        await server.close()
        await back.stop()


def quick_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cloud's answer is overdue after 0.3 s instead of 30 s; retries come fast."""
    monkeypatch.setattr(relay_module, "ANSWER_TIMEOUT", 0.3)
    monkeypatch.setattr(relay_module, "RECONNECT_MIN", 0.05)
    monkeypatch.setattr(relay_module, "RECONNECT_MAX", 0.1)


def outage_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if "cannot reach the cloud" in r.getMessage()
    ]


async def test_a_silent_cloud_is_out_of_reach_and_the_battery_keeps_its_acks(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It accepts the link and never reads (a dead cloud behind a load balancer)."""
    quick_deadlines(monkeypatch)
    silent = ScriptedCloud(reads=False)
    await silent.start()
    try:
        server = await relayed(make_server, silent.port)
        battery: RawClient = await connect(server.port)
        sent = [login(), realtime(1)]
        for n, frame in enumerate(sent, 1):
            await battery.send(frame)
            await battery.frames(n)
        stats = server.relay_stats[SERIAL]
        await eventually(
            lambda: stats.unreachable_since is not None and silent.connections >= 2
        )
        assert not stats.connected  # the link is up; the cloud is not there
        # The battery's acknowledgements keep coming while the cloud is silent.
        for soc in range(2, 12):
            sent.append(realtime(soc))
            await battery.send(sent[-1])
            await battery.frames(len(sent))
        await eventually(lambda: silent.connections >= 3)  # re-dialled, again
        assert not stats.connected
        (warning,) = outage_warnings(caplog)  # once per outage, not once per link
        assert "accepted the connection but never answered" in warning
    finally:
        await silent.stop()
    # The cloud answers again: reached at its first answer, and nothing was lost.
    back = ScriptedCloud()
    await back.start(silent.port)
    try:
        await back.wait_for(lambda: len(back.frames) == len(sent))
        assert bytes(back.received) == b"".join(f.encode() for f in sent)
        await eventually(lambda: stats.unreachable_since is None and stats.connected)
        assert len(outage_warnings(caplog)) == 1
        assert stats.dropped == 0
    finally:
        await server.close()
        await back.stop()


async def test_a_cloud_that_reads_and_never_answers_is_out_of_reach(
    make_server: Callable[..., Any],
    connect: Callable[[int], Any],
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quick_deadlines(monkeypatch)
    mute = ScriptedCloud()
    mute.answers = False
    await mute.start()
    try:
        server = await relayed(make_server, mute.port)
        battery: RawClient = await connect(server.port)
        await battery.send(login())
        await battery.send(realtime(1))
        await battery.frames(2)
        stats = server.relay_stats[SERIAL]
        await eventually(
            lambda: stats.unreachable_since is not None and mute.connections >= 2
        )
        assert not stats.connected
        assert [f.command for f in mute.frames[:2]] == [2, 16]  # it read them
        (warning,) = outage_warnings(caplog)
        assert "accepted the connection but never answered" in warning
        # Its first answer (on the next link, to what it was sent again) clears it.
        mute.answers = True
        await eventually(lambda: stats.unreachable_since is None and stats.connected)
        await eventually(lambda: stats.queued == 0)
        assert len(outage_warnings(caplog)) == 1
        # Silent again: a new outage, reported again.
        mute.answers = False
        await battery.send(realtime(2))
        await battery.frames(3)
        await eventually(lambda: stats.unreachable_since is not None)
        assert len(outage_warnings(caplog)) == 2
        await server.close()  # the relay first: it would reconnect to a closing cloud
    finally:
        await mute.stop()


async def small_send_buffer(
    host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Our end of the link, with a send buffer a few kB fill (not megabytes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


async def no_battery(command: ServerCommand) -> str | None:
    raise AssertionError(f"nothing may reach the battery here: {command}")


async def stalled_link(
    cloud: ScriptedCloud, stats: RelayStats, **kwargs: Any
) -> UpstreamLink:
    """A link to ``cloud`` that starts with 450 kB to write: more than fits."""
    link = UpstreamLink(
        RelayPolicy(HOST, cloud.port), SERIAL, stats, no_battery, **kwargs
    )
    link.forward(login().encode())
    padding = "x" * 3000
    for _ in range(150):
        body = {"SN": SERIAL, "Padding": padding}
        link.forward(Frame(1, 16, json.dumps(body).encode()).encode())
    link.start()
    return link


async def test_a_cloud_that_stops_reading_is_told_apart(
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    quick_deadlines(monkeypatch)
    # Long enough for the link to fill both socket buffers on a loaded machine: the
    # reason is told apart by what our socket still holds at the deadline.
    monkeypatch.setattr(relay_module, "ANSWER_TIMEOUT", 2.0)
    silent = ScriptedCloud(reads=False)
    await silent.start(rcvbuf=4096)
    stats = RelayStats()
    link = await stalled_link(silent, stats, connect=small_send_buffer)
    try:
        await eventually(lambda: stats.unreachable_since is not None)
        (warning,) = outage_warnings(caplog)
        assert "stopped reading what we send (our writes stall)" in warning
    finally:
        await link.close()
        await silent.stop()


def link_tasks() -> list[asyncio.Task[Any]]:
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", "").startswith("UpstreamLink.")
    ]


async def test_closing_a_link_never_waits_for_a_cloud_that_stopped_reading(
    socket_enabled: None,
) -> None:
    """The server's close waits for its links: a full socket buffer must not hold it."""
    silent = ScriptedCloud(reads=False)
    await silent.start(rcvbuf=4096)
    stats = RelayStats()
    try:
        link = await stalled_link(silent, stats, connect=small_send_buffer)
        await eventually(lambda: stats.links == 1)  # written: waiting for room
        async with asyncio.timeout(10):
            await link.close()
        assert stats.links == 0
        assert link_tasks() == []
    finally:
        await silent.stop()


async def test_closing_a_link_is_bounded_even_if_a_task_does_not_stop(
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(relay_module, "CLOSE_TIMEOUT", 0.05)
    dialling = asyncio.Event()
    release = asyncio.Event()
    stubborn = True

    async def dial(
        host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        nonlocal stubborn
        dialling.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if not stubborn:
                raise
            stubborn = False
            await release.wait()  # whatever it is, it does not stop when asked
        raise ConnectionRefusedError(host, port)

    link = UpstreamLink(
        RelayPolicy(HOST, 9), SERIAL, RelayStats(), no_battery, connect=dial
    )
    link.forward(login().encode())
    link.start()
    async with asyncio.timeout(5):
        await dialling.wait()
        await link.close()
    assert "still stopping" in caplog.text
    release.set()  # let it end, and end it for good
    async with asyncio.timeout(5):
        await link.close()
    assert link_tasks() == []
