"""Read an AlphaESS inverter over Modbus TCP, as one well-behaved client.

The inverter serves a single Modbus TCP client; a second one is refused, and a socket
left half-open keeps holding that only slot. So the reader keeps one connection,
sends one request at a time, reads a live poll as the register map's few block reads
(``LIVE_BLOCKS``, at most 4) rather than one request per value, and closes with a
reset (``compat.ModbusLink.close``) whenever it lets go: on an unanswered request, on
a close, after a probe. Identity (serials, firmware) is read at connect and hourly,
settings at connect and every minute.

What it reads reaches its owner as the server's own events (``Received`` with the
records the cloud link produces, ``Disconnected``), so the integration treats both
sources alike; what only a Modbus link has, the state of the link, comes as
``LinkTrouble``/``LinkRestored`` (``events.py``), once per outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
import time
from typing import Any, Final

from ..codec.messages import Message
from ..codec.redact import mask_serial
from ..codec.settings import BY_WIRE_KEY, MINUTE_SUFFIX, SettingValue, minute_key
from ..server.events import Disconnected, Received, ServerError, ServerEvent
from .compat import (
    LinkAnswerError,
    LinkClosedError,
    LinkError,
    LinkRefusedError,
    LinkTimeoutError,
    ModbusLink,
    pymodbus,
    pymodbus_version,
)
from .events import LinkRestored, LinkTrouble, ModbusEvent, Trouble
from .registers import (
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    SETTINGS_BLOCKS,
    Block,
    RegisterMap,
    read_clock,
    read_serial,
    setting_writes,
)

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 502
DEFAULT_UNIT: Final = 85  # AlphaESS' Modbus address, on TCP as on RS485
DEFAULT_INTERVAL: Final = 10.0  # the cloud link's cadence: the same database growth
REQUEST_TIMEOUT: Final = 5.0
RECONNECT_DELAY: Final = 1.0  # doubling on each failed attempt ...
RECONNECT_DELAY_MAX: Final = 60.0  # ... up to this
IDENTITY_EVERY: Final = 3600.0
SETTINGS_EVERY: Final = 60.0
CLOSE_TIMEOUT: Final = 5.0
REFUSED_BLOCK_RETRY: Final = 3600.0
# Modbus exception codes: 1 illegal function, 2 illegal data address (a model without
# those registers); 0x0A gateway path unavailable, 0x0B gateway target failed to
# respond (a gateway whose inverter on the RS485 side says nothing).
NO_SUCH_BLOCK: Final = frozenset({0x01, 0x02})
GATEWAY_NO_ANSWER: Final = frozenset({0x0A, 0x0B})


class ModbusError(Exception):
    """Base class of what :func:`probe` raises."""


class ModbusSlotTaken(ModbusError):  # noqa: N818 - the name says what the owner sees
    """Refused, or closed before answering: another client holds the only slot.

    ``refused`` is True when the TCP connection itself was refused, which is also
    what a host without Modbus TCP on that port answers.
    """

    def __init__(self, message: str, *, refused: bool = False) -> None:
        """Say whether the TCP connection itself was refused."""
        super().__init__(message)
        self.refused = refused


class ModbusUnreachable(ModbusError):  # noqa: N818
    """No connection, or connected and no answer in time."""


class ModbusNoSerial(ModbusError):  # noqa: N818
    """The unit answers, but its serial registers hold no serial (not AlphaESS?)."""


class ModbusNotApplied(ModbusError, ServerError):  # noqa: N818
    """A settings change the inverter did not take: refused, kept or not written.

    A :class:`ServerError` too, the error the cloud link's ``set_config`` raises, so
    a caller of either channel handles one kind of failure.
    """


@dataclass(slots=True)
class BlockStats:
    """One register block's reads, for diagnostics."""

    reads: int = 0
    failures: int = 0
    last_ms: float | None = None
    total_ms: float = 0.0

    @property
    def mean_ms(self) -> float | None:
        """Mean duration of the successful reads."""
        return self.total_ms / self.reads if self.reads else None


@dataclass(slots=True)
class ModbusStats:
    """What the reader did on the link: for diagnostics and the benchmark."""

    blocks: dict[str, BlockStats] = field(default_factory=dict)
    polls: int = 0  # live polls that gave records
    requests: int = 0  # every request sent
    last_poll_requests: int = 0  # requests of the last live poll (identity aside)
    max_poll_requests: int = 0
    connects: int = 0  # connections opened
    pymodbus: str = ""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy (no serial in it)."""
        return {
            "pymodbus": self.pymodbus,
            "polls": self.polls,
            "requests": self.requests,
            "last_poll_requests": self.last_poll_requests,
            "max_poll_requests": self.max_poll_requests,
            "connects": self.connects,
            "blocks": {
                name: {
                    "reads": block.reads,
                    "failures": block.failures,
                    "last_ms": _round(block.last_ms),
                    "mean_ms": _round(block.mean_ms),
                }
                for name, block in self.blocks.items()
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class _SessionEnded(Exception):  # noqa: N818 - flow control, never escapes
    """The link ended; ``trouble`` says whether the owner should hear of it."""

    def __init__(self, trouble: Trouble | None, why: str) -> None:
        super().__init__(why)
        self.trouble = trouble


class ModbusReader:
    """Polls one inverter over Modbus TCP and reports what it reads.

    Never raises for a link problem: it reconnects with backoff (1 s doubling to
    60 s) and says what is wrong through ``LinkTrouble``. Times the reader compares
    (identity and settings due) come from ``ticks``; waits are the loop's timers.

    It is also a settings channel (the integration's ``source.SettingsChannel``):
    :meth:`set_config` writes what changed in the handed settings, between two polls
    on the same link, and reads the registers back before it says they took.
    """

    # The window ends' minutes are registers of their own (the cloud link's are not).
    minutes: Final = True

    def __init__(
        self,
        on_event: Callable[[ServerEvent | ModbusEvent], None],
        *,
        host: str,
        port: int = DEFAULT_PORT,
        unit: int = DEFAULT_UNIT,
        interval: float = DEFAULT_INTERVAL,
        ticks: Callable[[], float] = time.monotonic,
        request_timeout: float = REQUEST_TIMEOUT,
        reconnect_delay: float = RECONNECT_DELAY,
        reconnect_delay_max: float = RECONNECT_DELAY_MAX,
        decided: Mapping[str, float] | None = None,
    ) -> None:
        """Nothing happens before :meth:`start`; only ``host:port`` is ever dialled.

        ``decided``: the disputed scales a previous reader decided for this inverter
        (``registers.decided``), so the fields they govern need not wait for new
        evidence (PV energy waits for daylight).
        """
        self._on_event = on_event
        self.host = host
        self.port = port
        self.unit = unit
        self.interval = interval
        self.request_timeout = request_timeout
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = reconnect_delay_max
        self.close_timeout = CLOSE_TIMEOUT
        self.peer = f"{host}:{port}"
        self._ticks = ticks
        self.registers = RegisterMap(decided)
        self._stats = ModbusStats()
        self._task: asyncio.Task[None] | None = None
        self._serial: str | None = None  # the inverter's, once read
        self._connected: str | None = None  # the serial of the live session
        self._identity_words: dict[int, int] = {}
        self._identity_at: float | None = None
        self._clock: datetime | None = None  # the inverter's clock at _identity_at
        self._settings_at: float | None = None
        self._outage: set[Trouble] = set()  # kinds told in the current outage
        self._logged_blocks: set[str] = set()  # blocks whose refusal was logged
        # Blocks the inverter refused (a Modbus exception, e.g. a model without
        # them) and when: not asked again for an hour. pymodbus logs an error for
        # each exception answer, and the request is wasted anyway.
        self._refused: dict[str, float] = {}
        self._no_serial_logged = False
        self._failure_logged = False
        self._answered = False  # any answer on the current connection
        # The live session's link, and the lock that keeps its requests one at a
        # time between the poller and a settings write.
        self._link: ModbusLink | None = None
        self._link_lock = asyncio.Lock()
        self._settings_words: dict[int, int] = {}  # as last read (or written)
        self._settings_raw: Mapping[str, object] = {}  # the last report's settings
        self._handed: dict[str, dict[str, object]] = {}  # serial -> settings handed

    @property
    def connected_serials(self) -> frozenset[str]:
        """The inverter's serial while its link is up and has answered."""
        return frozenset({self._connected}) if self._connected else frozenset()

    @property
    def stats(self) -> ModbusStats:
        """Reads per block and their timings, requests per poll."""
        return self._stats

    async def start(self) -> None:
        """Start polling in a task; returns at once.

        Raises ImportError when pymodbus is not installed (an install problem, not a
        link problem: said at once, not retried).
        """
        pymodbus()
        self._stats.pymodbus = pymodbus_version()
        if self._task is None:
            self._task = asyncio.create_task(
                self._run(), name=f"alphaess modbus reader {self.peer}"
            )

    async def close(self) -> None:
        """Stop polling and close the link with a reset; bounded by ``close_timeout``.

        The inverter frees its one slot at once for a reset, where a plain close
        can keep it for minutes.
        """
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            async with asyncio.timeout(self.close_timeout):
                await asyncio.wait({task})
        except TimeoutError:
            _LOGGER.warning(
                "The Modbus reader of %s did not stop within %.0f s",
                self.peer,
                self.close_timeout,
            )
        if task.done() and not task.cancelled() and task.exception() is not None:
            _LOGGER.error(
                "The Modbus reader of %s failed", self.peer, exc_info=task.exception()
            )

    # The poller -------------------------------------------------------------

    async def _run(self) -> None:
        delay = self.reconnect_delay
        while True:
            try:
                link = await ModbusLink.open(
                    self.host, self.port, self.unit, timeout=self.request_timeout
                )
            except LinkRefusedError:
                # Refused at once: another client holds the slot (the entry was
                # made after a probe proved Modbus TCP on this port).
                self._trouble(Trouble.SLOT_TAKEN)
            except LinkClosedError:
                self._trouble(Trouble.SLOT_TAKEN)
            except LinkError:
                self._trouble(Trouble.UNREACHABLE)
            else:
                self._stats.connects += 1
                answered = await self._session(link)
                if answered:
                    delay = self.reconnect_delay
            await self._pause(delay)
            delay = min(delay * 2, self.reconnect_delay_max)

    async def _pause(self, seconds: float) -> None:
        """Wait before the next connection attempt (a seam for the backoff's tests)."""
        await asyncio.sleep(seconds)

    async def _session(self, link: ModbusLink) -> bool:
        """Poll over ``link`` until it fails; True when it had answered."""
        self._answered = False
        # Identity first on every connection: the address may now lead to another
        # inverter (a DHCP lease moved), whose records must not carry the old serial.
        self._identity_at = None
        try:
            loop = asyncio.get_running_loop()
            due = loop.time()
            while True:
                async with self._link_lock:
                    self._link = link
                    await self._poll(link)
                due += self.interval
                now = loop.time()
                if due < now:  # a poll took longer than the interval: skip, no burst
                    due = now + self.interval
                await asyncio.sleep(due - now)
        except _SessionEnded as ended:
            if ended.trouble is not None:
                self._trouble(ended.trouble)
            elif _LOGGER.isEnabledFor(logging.DEBUG):
                _LOGGER.debug("Modbus link to %s ended: %s", self.peer, ended)
        except Exception:
            # A bug (ours, or words no rule foresaw) costs this session, not the
            # reader: the link is reset and retried with backoff. Logged once.
            if not self._failure_logged:
                self._failure_logged = True
                _LOGGER.exception("The Modbus reader of %s failed a poll", self.peer)
            self._answered = False  # back off as for a link that does not answer
        finally:
            self._link = None
            await link.close()
            self._end_session()
        return self._answered

    def _end_session(self) -> None:
        serial, self._connected = self._connected, None
        if serial is not None:
            self._emit(Disconnected(serial, datetime.now(UTC), self.peer))

    async def _poll(self, link: ModbusLink) -> None:
        """One poll: the live blocks, plus identity and settings when due."""
        now = self._ticks()
        identity = self._due(self._identity_at, now, IDENTITY_EVERY)
        settings = identity or self._due(self._settings_at, now, SETTINGS_EVERY)
        words: dict[int, int] = {}
        if identity:
            words = await self._read_blocks(link, IDENTITY_BLOCKS + SETTINGS_BLOCKS)
            serial = read_serial(words)
            if serial is None:
                if not self._no_serial_logged:
                    self._no_serial_logged = True
                    _LOGGER.warning(
                        "The Modbus unit %s at %s answers, but its serial registers "
                        "hold no serial; is it an AlphaESS inverter?",
                        self.unit,
                        self.peer,
                    )
                return
            self._no_serial_logged = False
            if self._serial is not None and serial != self._serial:
                # Another inverter at this address now (a DHCP lease moved): the
                # old one's session ends here, the new one's starts, and its
                # disputed scales are decided afresh.
                self._end_session()
                self.registers = RegisterMap()
            self._serial = serial
            self._identity_words = {
                address: words[address]
                for block in IDENTITY_BLOCKS
                for address in block.addresses
                if address in words
            }
            self._identity_at = self._settings_at = now
            self._clock = read_clock(words)
            self._keep_settings(words)
        elif settings:
            words = dict(self._identity_words)
            words.update(await self._read_blocks(link, SETTINGS_BLOCKS))
            self._settings_at = now
            self._keep_settings(words)
        serial = self._serial
        if serial is None:  # pragma: no cover - set above or returned
            return
        if identity or settings:
            self._up(serial)
            self._report(serial, words)
        sent = self._stats.requests
        live = await self._read_blocks(link, LIVE_BLOCKS)
        self._up(serial)
        requests = self._stats.requests - sent
        self._stats.last_poll_requests = requests
        self._stats.max_poll_requests = max(self._stats.max_poll_requests, requests)
        received_at = datetime.now(UTC)
        realtime, detailed = self.registers.live(
            live, serial=serial, at=self._record_time(received_at)
        )
        self._stats.polls += 1
        self._received(serial, realtime, received_at)
        self._received(serial, detailed, received_at)

    def _keep_settings(self, words: Mapping[int, int]) -> None:
        """The settings words just read: what a write builds on (shared registers)."""
        self._settings_words = {
            address: words[address]
            for block in SETTINGS_BLOCKS
            for address in block.addresses
            if address in words
        }

    def _report(self, serial: str, words: Mapping[int, int]) -> None:
        report = self.registers.identity(words, serial=serial)
        self._settings_raw = report.raw
        self._received(serial, report)

    # The settings channel -------------------------------------------------

    def hand_config(self, serial: str, settings: Mapping[str, object]) -> None:
        """Keep ``settings`` (the report's settings, changes in) for :meth:`set_config`."""
        self._handed[serial] = dict(settings)

    def withdraw_config(self, serial: str) -> None:
        """Forget settings handed over and not written."""
        self._handed.pop(serial, None)

    async def set_config(
        self, serial: str, *, timeout: float = REQUEST_TIMEOUT * 4
    ) -> None:
        """Write what the handed settings change, then read it back.

        Waits for the poll in progress (one request at a time on the inverter's one
        link), writes the changed registers, reads the settings block back and
        reports it (a ``Received`` system report, as a poll does). Raises
        :class:`ModbusNotApplied` when nothing could be written or the registers read
        back do not hold what was written (an inverter that ignores the write).
        """
        handed = self._handed.pop(serial, None)
        if handed is None:
            raise ModbusNotApplied("no settings handed over")
        changes = self._changes(handed)
        try:
            writes = setting_writes(changes, current=self._settings_words)
        except ValueError as err:
            raise ModbusNotApplied(str(err)) from err
        async with asyncio.timeout(timeout), self._link_lock:
            link = self._link
            if link is None or serial != self._connected:
                raise ModbusNotApplied(f"the inverter at {self.peer} is not connected")
            try:
                for start, words in _runs(writes):
                    self._stats.requests += 1
                    await link.write(start, words, timeout=self.request_timeout)
                read = dict(self._identity_words)
                read.update(await self._read_blocks(link, SETTINGS_BLOCKS))
            except LinkAnswerError as err:  # refused (e.g. a register it lacks)
                raise ModbusNotApplied(f"{self.peer}: {err}") from err
            except (LinkError, _SessionEnded) as err:
                # A link in doubt: reset, and the poller starts afresh.
                link.abandon()
                raise ModbusNotApplied(f"{self.peer}: {err}") from err
            except BaseException:  # out of time, or cancelled, mid-request
                link.abandon()
                raise
            self._keep_settings(read)
            self._report(serial, read)
        kept = {address: read.get(address) for address, word in writes}
        if any(kept[address] != word for address, word in writes):
            raise ModbusNotApplied(
                f"the inverter at {self.peer} kept "
                + ", ".join(f"{a:#06x}={kept[a]}" for a, _ in writes)
            )

    def _changes(self, handed: Mapping[str, object]) -> dict[str, SettingValue]:
        """The handed settings that differ from the last read, by the map's keys."""
        changes: dict[str, SettingValue] = {}
        for wire_key, value in handed.items():
            hour_key = wire_key.removesuffix(MINUTE_SUFFIX)
            setting = BY_WIRE_KEY.get(hour_key)
            if (
                setting is None
                or not isinstance(value, bool | int | float)
                or (
                    wire_key in self._settings_raw
                    and self._settings_raw[wire_key] == value
                )
            ):
                continue
            key = setting.key if wire_key == hour_key else minute_key(setting.key)
            changes[key] = value
        return changes

    def _up(self, serial: str) -> None:
        """The link answered: the session is the serial's; an outage ends."""
        if self._connected is None:
            self._connected = serial
            self._restored()

    def _record_time(self, received_at: datetime) -> datetime:
        """The inverter's clock now, as a battery's records carry its own.

        Read with the identity (hourly) and carried forward on ``ticks``, so the
        integration's clock check sees the inverter's offset as it sees a battery's;
        the host's local time (naive, as a battery's clock) when it has none.
        """
        if self._clock is not None and self._identity_at is not None:
            elapsed = timedelta(seconds=round(self._ticks() - self._identity_at))
            return self._clock + elapsed
        return received_at.astimezone().replace(tzinfo=None, microsecond=0)

    @staticmethod
    def _due(last: float | None, now: float, every: float) -> bool:
        return last is None or now - last >= every

    async def _read_blocks(
        self, link: ModbusLink, blocks: Iterable[Block]
    ) -> dict[int, int]:
        """Read ``blocks`` one after the other: never two requests in flight."""
        words: dict[int, int] = {}
        for block in blocks:
            stats = self._stats.blocks.setdefault(block.name, BlockStats())
            began = self._ticks()
            refused = self._refused.get(block.name)
            if refused is not None and began - refused < REFUSED_BLOCK_RETRY:
                continue
            self._stats.requests += 1
            try:
                values = await link.read(
                    block.start, block.count, timeout=self.request_timeout
                )
            except LinkAnswerError as err:
                stats.failures += 1
                if err.code in GATEWAY_NO_ANSWER:
                    # An RS485 gateway answers for an inverter that does not.
                    raise _SessionEnded(Trouble.SILENT, str(err)) from err
                self._answered = True
                if err.code not in NO_SUCH_BLOCK:
                    continue  # busy, or a failure of the moment: next poll again
                # The model lacks these registers: the poll goes on without them.
                self._refused[block.name] = began
                if block.name not in self._logged_blocks:
                    self._logged_blocks.add(block.name)
                    _LOGGER.info(
                        "The inverter at %s refuses the %s registers (Modbus "
                        "exception %d); read without them, asked again hourly",
                        self.peer,
                        block.name,
                        err.code,
                    )
                continue
            except LinkTimeoutError as err:
                stats.failures += 1
                raise _SessionEnded(Trouble.SILENT, str(err)) from err
            except LinkClosedError as err:
                stats.failures += 1
                # Closed before the first answer: the slot is another client's.
                trouble = None if self._answered else Trouble.SLOT_TAKEN
                raise _SessionEnded(trouble, str(err)) from err
            except LinkError as err:  # a garbled answer: start afresh
                stats.failures += 1
                raise _SessionEnded(Trouble.SILENT, str(err)) from err
            self._refused.pop(block.name, None)
            elapsed = (self._ticks() - began) * 1000
            stats.reads += 1
            stats.last_ms = elapsed
            stats.total_ms += elapsed
            self._answered = True
            words.update(zip(block.addresses, values, strict=True))
        return words

    # Events and the log ---------------------------------------------------

    def _received(
        self, serial: str, message: Message, received_at: datetime | None = None
    ) -> None:
        self._emit(
            Received(serial, received_at or datetime.now(UTC), self.peer, message)
        )

    def _trouble(self, trouble: Trouble) -> None:
        """Tell a kind of trouble once per outage: one event, one log line."""
        if trouble in self._outage:
            return
        self._outage.add(trouble)
        _LOGGER.warning(
            "Modbus inverter %s at %s: %s",
            mask_serial(self._serial),
            self.peer,
            _SAID[trouble],
        )
        self._emit(LinkTrouble(datetime.now(UTC), self.peer, trouble, self._serial))

    def _restored(self) -> None:
        if not self._outage:
            return
        self._outage.clear()
        _LOGGER.info(
            "Modbus inverter %s at %s answers again",
            mask_serial(self._serial),
            self.peer,
        )
        self._emit(LinkRestored(datetime.now(UTC), self.peer, self._serial))

    def _emit(self, event: ServerEvent | ModbusEvent) -> None:
        """Hand an event to the owner; an owner's bug never stops the reader."""
        try:
            self._on_event(event)
        except Exception:
            _LOGGER.exception("Error in the AlphaESS Modbus event handler")


def _runs(writes: list[tuple[int, int]]) -> list[tuple[int, list[int]]]:
    """Writes in address order as runs of neighbouring registers: one request each."""
    runs: list[tuple[int, list[int]]] = []
    for address, word in writes:
        if runs and runs[-1][0] + len(runs[-1][1]) == address:
            runs[-1][1].append(word)
        else:
            runs.append((address, [word]))
    return runs


_SAID: Final[Mapping[Trouble, str]] = {
    Trouble.SLOT_TAKEN: "refused or closed before answering: another Modbus client "
    "holds the inverter's only connection (or Modbus TCP is off on this port)",
    Trouble.UNREACHABLE: "cannot connect; retrying with backoff up to a minute",
    Trouble.SILENT: "connected but no answer (asleep, a stuck gateway or a "
    "half-open link); the link is reset and retried",
}


async def probe(
    host: str,
    port: int = DEFAULT_PORT,
    unit: int = DEFAULT_UNIT,
    *,
    timeout: float = 10.0,
) -> str:
    """Read the inverter's serial once (for the config flow), then let go with a reset.

    Raises :class:`ModbusSlotTaken`, :class:`ModbusUnreachable` or
    :class:`ModbusNoSerial`; ImportError without pymodbus.
    """
    pymodbus()
    peer = f"{host}:{port}"
    link: ModbusLink | None = None
    answered = False
    try:
        async with asyncio.timeout(timeout):
            link = await ModbusLink.open(host, port, unit, timeout=timeout)
            words: dict[int, int] = {}
            for block in IDENTITY_BLOCKS:
                try:
                    values = await link.read(block.start, block.count, timeout=timeout)
                except LinkAnswerError as err:
                    if err.code in GATEWAY_NO_ANSWER:
                        raise ModbusUnreachable(
                            f"the gateway at {peer} answers, the inverter behind it "
                            f"does not (Modbus exception {err.code})"
                        ) from err
                    answered = True
                    continue
                answered = True
                words.update(zip(block.addresses, values, strict=True))
    except LinkRefusedError as err:
        raise ModbusSlotTaken(f"{peer} refused the connection", refused=True) from err
    except LinkClosedError as err:
        if answered:
            raise ModbusUnreachable(f"{peer} closed the connection") from err
        raise ModbusSlotTaken(f"{peer} closed the connection at once") from err
    except (LinkError, TimeoutError) as err:
        raise ModbusUnreachable(f"no answer from {peer}") from err
    finally:
        if link is not None:
            with contextlib.suppress(Exception):
                await link.close()
    serial = read_serial(words)
    if serial is None:
        raise ModbusNoSerial(f"unit {unit} at {peer} has no serial in its registers")
    return serial
