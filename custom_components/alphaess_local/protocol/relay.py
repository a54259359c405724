"""Opt-in relay to the vendor cloud, behind a command firewall.

Some owners must keep the AlphaESS cloud (the app their installer supports them with,
a virtual-power-plant contract). The relay keeps the data local first: every frame we
accept from a battery is acknowledged here before it is queued for the cloud, so the
battery never waits for the internet, and frames from a peer we refused never leave.
Upstream the relay is one TCP connection per battery connection:

- frames go out byte for byte and in order; the cloud's replies to them are consumed,
  and must come: a cloud that accepts the link but leaves what we sent unanswered for
  :data:`ANSWER_TIMEOUT` is out of reach like one that refuses it, and is re-dialled;
- what could not be sent waits in a bounded queue (by frames and by bytes, about an
  hour of a battery's traffic), oldest dropped first and counted; a stalled or absent
  cloud reconnects with backoff and jitter and never grows memory past that bound;
- what the cloud sends is classified (:class:`CommandKind`) and, by policy, refused
  as a battery would refuse it (the default, and always for a firmware ``Update``
  unless explicitly allowed) or passed to the battery under an index of our own, its
  reply routed back with the cloud's index, never mixed with our own commands.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
import json
import logging
import random
from typing import Final

from .codec.frame import Command, Frame, FrameDecoder, Kind
from .codec.messages import ServerCommand, decode_message
from .codec.redact import mask_serial

_LOGGER = logging.getLogger(__name__)

# About an hour of one battery: a realtime frame every 10 s, a detailed record every
# 5 min, reports and heartbeats; frames are 0.3 to 3 kB.
QUEUE_FRAMES: Final = 720
QUEUE_BYTES: Final = 1024 * 1024
RECONNECT_MIN: Final = 1.0
RECONNECT_MAX: Final = 60.0
CONNECT_TIMEOUT: Final = 10.0
# Unsent bytes held by the socket before a write waits, and how long it may wait.
DRAIN_ABOVE: Final = 64 * 1024
DRAIN_TIMEOUT: Final = 30.0
COMMAND_TIMEOUT: Final = 30.0
# How long the cloud may leave a login or frame we sent unanswered (counted from the
# oldest write still due an answer, restarted by each answer) before the link counts
# as out of reach and is re-dialled. A healthy cloud answers within a round trip
# (well under a second), so 30 s spares a congested uplink or a cloud under load,
# matches how long a write may stall (DRAIN_TIMEOUT), and still tells the owner about
# a silent cloud (one behind a dead load balancer, one that reads and never answers)
# within three of the battery's 10 s frames. Read at use, so tests can shorten it.
ANSWER_TIMEOUT: Final = 30.0
# How long closing a link may wait for its tasks once cancelled: the server's close
# waits for it, and nothing of the cloud's may hold that up.
CLOSE_TIMEOUT: Final = 5.0
# Commands the cloud may have at the battery at once; more are refused.
MAX_PASSED_AT_ONCE: Final = 2


class CommandKind(StrEnum):
    """What the cloud asks of a battery."""

    SET_CONFIG = "SetConfig"
    RESUME = "Resume"
    SYNC_TIME = "SyncTime"
    UPDATE = "Update"  # firmware, downloaded over plain HTTP
    UNKNOWN = "unknown"


def classify(command: str | None) -> CommandKind:
    """The kind of a cloud command by its name; anything unseen is UNKNOWN."""
    try:
        return CommandKind(command or "")
    except ValueError:
        return CommandKind.UNKNOWN


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Where the cloud is, and which of its commands reach the battery."""

    host: str
    port: int
    passed: frozenset[CommandKind] = frozenset()
    queue_frames: int = QUEUE_FRAMES
    queue_bytes: int = QUEUE_BYTES


@dataclass(slots=True)
class RelayStats:
    """What the relay did for one battery, since the server started."""

    # Open links to the cloud for this battery (an old one may still be closing),
    # answering or not.
    links: int = 0
    forwarded: int = 0
    queued: int = 0
    dropped: int = 0
    blocked: int = 0
    passed: int = 0
    # Loop time since which the cloud has been out of reach (None: reached).
    unreachable_since: float | None = None

    @property
    def connected(self) -> bool:
        """Whether a link to the cloud is up and the cloud answers on it.

        A link the cloud accepts and leaves unanswered is not a connection the owner
        can rely on: it counts from the moment its answer is overdue until one comes.
        """
        return self.links > 0 and self.unreachable_since is None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for diagnostics."""
        return {
            "connected": self.connected,
            "forwarded": self.forwarded,
            "queued": self.queued,
            "dropped": self.dropped,
            "blocked": self.blocked,
            "passed": self.passed,
        }


type DeliverCommand = Callable[[ServerCommand], Awaitable[str | None]]
type Connect = Callable[
    [str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
]


@dataclass
class RelayQueue:
    """Frames not yet acknowledged by the cloud; the first ``sent`` are in flight."""

    limit_frames: int
    limit_bytes: int
    frames: deque[bytes] = field(default_factory=deque)
    size: int = 0
    sent: int = 0
    # Replies still due for in-flight frames that were dropped to make room: they
    # must not acknowledge the frames behind them.
    stale_acks: int = 0

    def push(self, data: bytes) -> int:
        """Queue ``data``; return how many frames were dropped to make room."""
        self.frames.append(data)
        self.size += len(data)
        dropped = 0
        while len(self.frames) > 1 and (
            len(self.frames) > self.limit_frames or self.size > self.limit_bytes
        ):
            # The oldest not yet in flight; in flight only if nothing else is left.
            index = self.sent if self.sent < len(self.frames) - 1 else 0
            old = self.frames[index]
            del self.frames[index]
            self.size -= len(old)
            if index < self.sent:
                self.sent -= 1
                self.stale_acks += 1
            dropped += 1
        return dropped

    def acknowledged(self) -> bool:
        """The cloud answered the oldest frame in flight; False if it was dropped."""
        if self.stale_acks:
            self.stale_acks -= 1
            return False
        if self.sent:
            self.size -= len(self.frames.popleft())
            self.sent -= 1
            return True
        return False

    def link_lost(self) -> None:
        """Frames in flight go again, in order, on the next link; no reply is due."""
        self.sent = 0
        self.stale_acks = 0

    def unsent(self) -> list[bytes]:
        """Frames to write now; they count as in flight from here."""
        batch = list(self.frames)[self.sent :]
        self.sent = len(self.frames)
        return batch


class UpstreamLink:
    """One battery connection's link to the cloud (see the module docstring)."""

    def __init__(
        self,
        policy: RelayPolicy,
        serial: str,
        stats: RelayStats,
        deliver: DeliverCommand,
        *,
        connect: Connect | None = None,
        own_port: int = 0,
        queue: RelayQueue | None = None,
        on_config: Callable[[Mapping[str, object]], None] | None = None,
    ) -> None:
        """Relay for ``serial``; ``deliver`` sends a passed command to the battery.

        ``own_port`` is our listener's, never connected to as the cloud.
        """
        self._own_port = own_port
        self._on_config = on_config
        self._policy = policy
        self._serial = serial
        self._stats = stats
        self._deliver = deliver
        self._connect = connect or _open
        # The battery's queue outlives this link: a battery whose own connection drops
        # during a cloud outage finds its frames waiting on its next connection.
        self._queue = queue or RelayQueue(policy.queue_frames, policy.queue_bytes)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writer: asyncio.StreamWriter | None = None
        self._warned: set[CommandKind] = set()
        # The battery's login, sent first on every upstream connection after the one
        # it was queued for: the cloud knows a connection by its login.
        self._login: bytes | None = None
        # Whether the cloud answered on the current link.
        self._answered = False
        # Loop time since which something we sent on the current link waits for the
        # cloud's answer (None: nothing is due).
        self._due_since: float | None = None

    def start(self) -> None:
        """Start connecting (in the running loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop; what is still queued waits for the battery's next connection.

        Bounded whatever the link waits on: the socket is dropped, not flushed (a
        cloud that stopped reading never takes a full buffer), and a task that does
        not end within CLOSE_TIMEOUT of its cancellation is left to end alone.
        """
        if self._writer is not None:
            self._writer.transport.abort()
        tasks = [
            t for t in (self._task, *self._tasks) if t is not None and not t.done()
        ]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                _LOGGER.warning(
                    "Relay for %s: %d task(s) still stopping after %s s; closed anyway",
                    self._label,
                    len(stuck),
                    CLOSE_TIMEOUT,
                )
        self._queue.link_lost()
        self._stats.unreachable_since = None

    def forward(self, data: bytes) -> None:
        """Queue a frame we accepted and acknowledged; never waits."""
        if data[1:3] == bytes((Kind.REQUEST, Command.LOGIN)):
            self._login = data
        dropped = self._queue.push(data)
        self._stats.queued += 1 - dropped
        if dropped:
            self._stats.dropped += dropped
            _LOGGER.debug(
                "Relay for %s: queue full, dropped %d",
                mask_serial(self._serial),
                dropped,
            )
        self._wake.set()

    # --- the connection -------------------------------------------------------------

    async def _run(self) -> None:
        delay = RECONNECT_MIN
        loop = asyncio.get_running_loop()
        while True:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    reader, writer = await self._connect(
                        self._policy.host, self._policy.port
                    )
                if self._is_own_listener(writer):
                    writer.transport.abort()
                    raise ConnectionRefusedError("that address is our own listener")
            except (OSError, TimeoutError, ValueError) as err:
                self._unreachable(str(err))
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311
                delay = min(delay * 2, RECONNECT_MAX)
                continue
            began = loop.time()
            self._answered = False
            try:
                await self._connected(reader, writer)
            except Exception:  # a bug here must not end the relay for good
                _LOGGER.exception("Relay for %s: link failed", self._label)
            if not self._answered:
                # Accepting and dropping at once is as good as refusing: the owner
                # must hear of it the same way.
                self._unreachable("it closed the link without answering")
            # A link that held for a while starts the backoff afresh; one the cloud
            # drops at once (a reset mid-frame) keeps backing off.
            if loop.time() - began > RECONNECT_MAX:
                delay = RECONNECT_MIN
            else:
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311
                delay = min(delay * 2, RECONNECT_MAX)

    @staticmethod
    def _silence(writer: asyncio.StreamWriter) -> str:
        """Why an overdue cloud is out of reach, as far as we can tell.

        Bytes the kernel would not take mean the cloud stopped reading (its receive
        window is full); a few bytes fit its buffers whether it reads them or not.
        """
        if writer.transport.get_write_buffer_size():
            return (
                "it accepted the connection but stopped reading what we send "
                f"(our writes stall) and never answered within {ANSWER_TIMEOUT:g} s"
            )
        return (
            f"it accepted the connection but never answered within {ANSWER_TIMEOUT:g} s"
        )

    def _unreachable(self, why: str) -> None:
        """The cloud was not reached: say so once per outage, and since when."""
        if self._stats.unreachable_since is not None:
            return
        self._stats.unreachable_since = asyncio.get_running_loop().time()
        _LOGGER.warning(
            "Relay for %s: cannot reach the cloud at %s:%s (%s); "
            "the battery is served locally and its frames are queued",
            self._label,
            self._policy.host,
            self._policy.port,
            why,
        )

    def _is_own_listener(self, writer: asyncio.StreamWriter) -> bool:
        """Whether the link leads back to our own listener.

        The cloud's name may resolve to us (the owner's DNS override): relaying to
        ourselves would let the battery's own login take its link from it.
        """
        peer = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        return bool(
            peer and local and peer[0] == local[0] and peer[1] == self._own_port
        )

    async def _connected(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        loop = asyncio.get_running_loop()
        self._stats.links += 1
        self._writer = writer
        self._due_since = None
        login = self._login
        if login is not None and not (
            self._queue.frames and self._queue.frames[0] is login
        ):
            writer.write(login)  # its reply is due before any queued frame's
            self._queue.stale_acks += 1
            self._due_since = loop.time()
        read = loop.create_task(self._read(reader))
        read.add_done_callback(lambda _task: self._wake.set())
        try:
            while not read.done():
                self._wake.clear()
                if batch := self._queue.unsent():
                    writer.write(b"".join(batch))  # one write, however long the queue
                    if self._due_since is None:
                        self._due_since = loop.time()
                # The cloud's answer is due by then, whatever we wait on meanwhile (a
                # drain included: a cloud that stopped reading answers nothing).
                due = (
                    None
                    if self._due_since is None
                    else self._due_since + ANSWER_TIMEOUT
                )
                try:
                    async with asyncio.timeout_at(due) as answer:
                        if writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
                            async with asyncio.timeout(DRAIN_TIMEOUT):
                                await writer.drain()
                        # A frame to forward, an answer, or the link ended.
                        await self._wake.wait()
                except TimeoutError:
                    if not answer.expired():
                        raise  # the drain's own
                    self._unreachable(self._silence(writer))
                    return
        except (OSError, TimeoutError) as err:
            _LOGGER.info("Relay for %s: cloud link lost (%s)", self._label, err)
        finally:
            self._stats.links -= 1
            self._writer = None
            self._queue.link_lost()
            writer.transport.abort()
            read.cancel()
            await asyncio.gather(read, return_exceptions=True)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder()
        loop = asyncio.get_running_loop()
        while data := await reader.read(65536):
            answered = False
            for frame in decoder.feed(data):
                if not isinstance(frame, Frame):
                    continue  # junk from the cloud: nothing to act on
                if frame.kind == Kind.REPLY:
                    # The cloud answered: reached (a link it only accepts is not).
                    answered = self._answered = True
                    if self._stats.unreachable_since is not None:
                        self._stats.unreachable_since = None
                        _LOGGER.info("Relay for %s: the cloud answers", self._label)
                    if frame.command == Command.CONFIG and self._on_config:
                        self._config_answer(frame)
                    if self._queue.acknowledged():
                        self._stats.forwarded += 1
                        self._stats.queued = max(self._stats.queued - 1, 0)
                elif (
                    frame.kind == Kind.REQUEST
                    and frame.command == Command.SERVER_COMMAND
                ):
                    self._command(frame)
            if answered:
                # An answer restarts the wait for the next; none due, none awaited.
                due = self._queue.sent or self._queue.stale_acks
                self._due_since = loop.time() if due else None
                self._wake.set()
            # Our answers to the cloud's commands wait for it like any write: a cloud
            # that streams commands without reading our answers grows nothing here.
            writer = self._writer
            if writer and writer.transport.get_write_buffer_size() > DRAIN_ABOVE:
                async with asyncio.timeout(DRAIN_TIMEOUT):
                    await writer.drain()

    def _config_answer(self, frame: Frame) -> None:
        """The cloud's settings for the battery, for a SetConfig the owner passed."""
        try:
            answer = json.loads(frame.payload)
        except ValueError:
            return
        if isinstance(answer, dict) and self._on_config is not None:
            settings = {k: v for k, v in answer.items() if k != "Status"}
            if settings:
                self._on_config(settings)

    @property
    def _label(self) -> str:
        return mask_serial(self._serial)

    # --- the firewall ---------------------------------------------------------------

    def _command(self, frame: Frame) -> None:
        command = decode_message(frame)
        if not isinstance(command, ServerCommand):
            return
        kind = classify(command.command)
        if kind in self._policy.passed and len(self._tasks) >= MAX_PASSED_AT_ONCE:
            self._stats.blocked += 1
            self._reply(command, "Failed")  # the battery is busy with the cloud's last
            return
        if kind not in self._policy.passed:
            self._stats.blocked += 1
            if kind not in self._warned:
                self._warned.add(kind)
                _LOGGER.warning(
                    "Relay for %s: the cloud sent %s; blocked (allow it in the relay "
                    "options to pass it to the battery)",
                    self._label,
                    kind,
                )
            self._reply(command, "Failed")
            return
        self._stats.passed += 1
        task = asyncio.get_running_loop().create_task(self._pass(command))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pass(self, command: ServerCommand) -> None:
        """The battery's answer, under the cloud's index, goes back to the cloud."""
        try:
            status = await self._deliver(command)
        except Exception as err:  # noqa: BLE001 - any failure is the battery's "no"
            _LOGGER.info("Relay for %s: passed command failed (%s)", self._label, err)
            status = None
        self._reply(command, status or "Failed")

    def _reply(self, command: ServerCommand, status: str) -> None:
        writer = self._writer
        if writer is None:
            return
        body = {"Command": command.command, "CmdIndex": command.index, "Status": status}
        writer.write(
            Frame(
                Kind.REPLY, Command.SERVER_COMMAND, json.dumps(body).encode()
            ).encode()
        )


async def _open(
    host: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port)
