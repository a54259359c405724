"""The simulated inverter's Modbus TCP side, answered by pymodbus's own server.

The reader (``protocol/modbus/reader.py``) is tested against a Modbus server this
project did not write: pymodbus's ``ModbusTcpServer`` and datastore answer every
request here. What this module adds is what a real AlphaESS inverter does and that
server does not:

- **one client at a time**: the inverter has one Modbus TCP slot; a second connection
  while one is open is closed at once (``one_client``, on by default);
- **silence**: asleep at night, or a half-open link, the inverter accepts and reads but
  never answers (``silent``);
- **registers that follow the battery**: the register image is refreshed from a
  source every second (the simulator's :class:`~.model.BatteryModel` through the
  register map's encoders), and a client's writes reach the battery's settings.

It also counts what clients send (requests, blocks, requests in flight), read off the
wire before pymodbus sees it, so tests can hold the reader to "never two requests in
flight" and "at most four requests per poll".

pymodbus changed its server side between the versions Home Assistant ships (3.8 to
3.13): ``ModbusSlaveContext``/``slaves=`` became ``ModbusDeviceContext``/``devices=``
(3.10), the 3.8 context adds 1 to each address, and 3.13 turned the datastore into a
shim over its ``SimDevice``, async only. :class:`_Store` hides all of it; pymodbus is
imported only when a server starts, so the library works without it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping, Sequence
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import importlib
import inspect
import itertools
import logging
import socket
import struct
import time
from typing import TYPE_CHECKING, Any, Final

from ..codec.settings import SETTINGS, Setting, SettingKind, SettingValue
from ..codec.values import parse_float
from ..modbus.registers import (
    DOCUMENTED,
    FEED_IN_LIMIT,
    SETTINGS_BLOCKS,
    RegisterMap,
    Scales,
    encode_identity,
    encode_live,
    encode_settings,
)
from .history import KEPT_FOR
from .model import BatteryModel, Sample
from .obedience import BatteryControl
from .readings import Identity

if TYPE_CHECKING:
    from .battery import SimulatedBattery

_LOGGER = logging.getLogger(__package__)

# The inverter's unit (slave) id and port.
UNIT: Final = 85
PORT: Final = 502
# Holding registers 0 .. REGISTER_SPACE - 1 are answered (the map's highest is the
# system fault word at 0x08D4, two registers).
REGISTER_SPACE: Final = 0x0900
# How often the register image follows its source (the inverter's own cadence).
REFRESH_INTERVAL: Final = 1.0
# How long closing may take before it gives up waiting for pymodbus.
CLOSE_TIMEOUT: Final = 5.0
# Requests remembered for tests and logs (a long ``simulate`` run must not grow).
REQUESTS_KEPT: Final = 1000
# A Modbus TCP frame: transaction, protocol (0), length (unit + PDU), then the unit.
_MBAP: Final = struct.Struct(">HHHB")
_MAX_LENGTH: Final = 254  # unit + PDU (253 bytes at most)
_READS: Final = frozenset({3, 4})
_WRITE_ONE: Final = 6
_WRITE_MANY: Final = 16

# Where the registers come from at each refresh: address -> 16-bit value.
type RegisterSource = Callable[[], Mapping[int, int]]
# A client wrote ``values`` from ``address`` on (function 6 or 16), as pymodbus took it.
type WriteHandler = Callable[[int, Sequence[int]], None]


@dataclass(frozen=True, slots=True)
class ModbusRequest:
    """One request a client sent, as read off the wire."""

    connection: int  # which accepted connection sent it (1, 2, ...)
    unit: int
    function: int
    address: int  # first register (0 when the function has none)
    count: int  # registers read or written
    values: tuple[int, ...] = ()  # what a write carries


def _request(connection: int, adu: bytes) -> ModbusRequest:
    """The request in one whole frame (header checked by the caller)."""
    unit, pdu = adu[6], adu[7:]
    function = pdu[0] if pdu else 0
    address = count = 0
    values: tuple[int, ...] = ()
    if len(pdu) >= 5:
        address, count = struct.unpack_from(">HH", pdu, 1)
        if function == _WRITE_ONE:
            values, count = (count,), 1
        elif function == _WRITE_MANY:
            data = pdu[6:]
            values = tuple(
                struct.unpack_from(">H", data, i)[0] for i in range(0, len(data) - 1, 2)
            )
    return ModbusRequest(connection, unit, function, address, count, values)


@dataclass(eq=False)
class _Connection:
    """One accepted client: its frames, as far as they are in."""

    number: int
    handler: Any  # pymodbus's per-connection protocol
    admitted: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    in_flight: int = 0

    @property
    def open(self) -> bool:
        """Whether pymodbus still holds its transport (it drops it when closed)."""
        return bool(getattr(self.handler, "transport", None))

    def frames(self, data: bytes) -> list[bytes]:
        """Whole frames in what arrived (bounded: a bad header empties the buffer)."""
        self.buffer += data
        frames = []
        while len(self.buffer) >= _MBAP.size:
            _, protocol, length, _ = _MBAP.unpack_from(self.buffer)
            if protocol != 0 or not 2 <= length <= _MAX_LENGTH:
                self.buffer.clear()
                break
            end = 6 + length
            if len(self.buffer) < end:
                break
            frames.append(bytes(self.buffer[:end]))
            del self.buffer[:end]
        return frames


class _Store:
    """pymodbus's datastore for one unit's holding registers, whichever the version.

    3.8 to 3.12: a slave/device context over a sequential block starting at 1 (the
    context adds 1 to each address, so register ``n`` is the block's ``n + 1``); a
    subclass sees each client write. 3.13 on: that context is a shim, so a
    ``SimDevice`` whose action sees each request (a write is one carrying values,
    other than the lists this store writes itself).
    """

    def __init__(self, unit: int, size: int, on_write: WriteHandler) -> None:
        """Build the datastore pymodbus's server will be handed as its context."""
        self.unit = unit
        self._on_write = on_write
        self._own: list[int] | None = None
        self._block: Any = None
        datastore = importlib.import_module("pymodbus.datastore")
        device = (
            getattr(datastore, "ModbusDeviceContext", None)
            or datastore.ModbusSlaveContext
        )
        if hasattr(device, "setValues"):
            self.context = self._legacy(datastore, device, size)
        else:
            self.context = self._simdevice(size)

    def _legacy(self, datastore: Any, device: type[Any], size: int) -> Any:
        block = datastore.ModbusSequentialDataBlock(1, [0] * size)
        seen = self._on_write

        class _Device(device):  # type: ignore[misc]
            def setValues(  # noqa: N802 - pymodbus's name
                self, func_code: int, address: int, values: Sequence[int]
            ) -> Any:
                seen(address, list(values))
                return super().setValues(func_code, address, values)

        self._block = block
        server_context = datastore.ModbusServerContext
        units = (
            "devices"
            if "devices" in inspect.signature(server_context).parameters
            else "slaves"
        )
        return server_context(**{units: {self.unit: _Device(hr=block)}}, single=False)

    def _simdevice(self, size: int) -> Any:
        simulator = importlib.import_module("pymodbus.simulator")

        async def action(
            _function: int,
            _start: int,
            address: int,
            _count: int,
            _registers: list[int],
            values: list[int] | list[bool] | None,
        ) -> None:
            if values is not None and values is not self._own:
                self._on_write(address, [int(value) for value in values])

        data = simulator.SimData(
            0, values=[0] * size, datatype=simulator.DataType.REGISTERS
        )
        return simulator.SimDevice(id=self.unit, simdata=[data], action=action)

    async def write(self, server: Any, address: int, values: list[int]) -> None:
        """Put ``values`` into the registers from ``address`` on (not a client write)."""
        if self._block is not None:
            self._block.setValues(address + 1, values)
            return
        self._own = values
        try:
            await server.async_setValues(self.unit, _WRITE_MANY, address, values)
        finally:
            self._own = None

    async def read(self, server: Any, address: int, count: int) -> list[int]:
        """What the registers hold now, as a client would read them."""
        if self._block is not None:
            return [int(value) for value in self._block.getValues(address + 1, count)]
        values = await server.async_getValues(self.unit, 3, address, count)
        return [int(value) for value in values]


class InverterServer:
    """A register image served over Modbus TCP as an AlphaESS inverter serves it."""

    def __init__(
        self,
        source: RegisterSource | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = PORT,
        unit: int = UNIT,
        one_client: bool = True,
        refuse_with_reset: bool = False,
        on_write: WriteHandler | None = None,
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        """Prepare the server; nothing listens until :meth:`start`.

        ``source`` gives the registers at each refresh; ``on_write`` hears each
        client write after it reached the image. ``refuse_with_reset`` makes a
        refused second client see a reset instead of an orderly close.
        """
        self.host = host
        self.port = port
        self.unit = unit
        self.one_client = one_client
        self.refuse_with_reset = refuse_with_reset
        # Accept and read, never answer (asleep at night, or a half-open link).
        self.silent = False
        # Registers held at a value over the source's (a test's nonsense, 0xFFFF).
        self.overrides: dict[int, int] = {}
        # Called with each request before pymodbus sees it (a test may cut the link).
        self.on_request: Callable[[ModbusRequest], None] | None = None
        self.requests: deque[ModbusRequest] = deque(maxlen=REQUESTS_KEPT)
        self.request_count = 0
        self.max_in_flight = 0
        self.accepted = 0
        self.refused = 0
        self.writes: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=REQUESTS_KEPT)
        self._source = source
        self._on_write = on_write
        self._refresh_interval = refresh_interval
        self._image = [0] * REGISTER_SPACE
        self._numbers = itertools.count(1)
        self._connections: set[_Connection] = set()
        self._server: Any = None
        self._store: _Store | None = None
        self._refresher: asyncio.Task[None] | None = None

    # --- life -------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether it listens now."""
        return self._server is not None

    async def start(self) -> None:
        """Listen (again, on the same port after :meth:`close`), registers fresh."""
        if self._server is not None:
            return
        server_module = importlib.import_module("pymodbus.server")
        store = _Store(self.unit, REGISTER_SPACE, self._written)
        server = server_module.ModbusTcpServer(
            store.context, address=(self.host, self.port)
        )
        new_connection = server.callback_new_connection
        server.callback_new_connection = lambda: self._adopt(new_connection())
        self._store = store
        self._server = server
        await self.refresh()
        try:
            await server.serve_forever(background=True)
        except RuntimeError as err:  # 3.13 says it this way
            self._server = None
            raise OSError(f"cannot listen on {self.host}:{self.port}: {err}") from err
        if not server.transport:  # 3.8 logs a warning and returns
            self._server = None
            raise OSError(f"cannot listen on {self.host}:{self.port}")
        self.port = server.transport.sockets[0].getsockname()[1]
        self._refresher = asyncio.create_task(self._refresh_loop())

    async def close(self) -> None:
        """Stop listening and drop every client; bounded, and leaves no task behind."""
        server, self._server = self._server, None
        if server is None:
            return
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        listener = server.transport
        self.drop_connections(reset=False)
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await server.shutdown()
                if listener is not None:
                    await listener.wait_closed()
        except TimeoutError:
            _LOGGER.warning(
                "Simulated inverter on port %s did not close within %g s",
                self.port,
                CLOSE_TIMEOUT,
            )
        self._connections.clear()

    def drop_connections(self, *, reset: bool = True) -> None:
        """Cut every client's link now (with a reset: a network blip, a cut cable)."""
        for connection in list(self._connections):
            self._drop(connection, reset=reset)

    # --- registers --------------------------------------------------------------

    async def refresh(self) -> None:
        """Take the source's registers (and the overrides) into the served image now."""
        fresh = dict(self._source()) if self._source is not None else {}
        fresh.update(self.overrides)
        for address, value in fresh.items():
            if 0 <= address < REGISTER_SPACE:
                self._image[address] = value & 0xFFFF
        if self._store is not None and self._server is not None:
            await self._store.write(self._server, 0, list(self._image))

    async def read(self, address: int, count: int = 1) -> list[int]:
        """What a client reading ``count`` registers from ``address`` gets now."""
        if self._store is None or self._server is None:
            return self._image[address : address + count]
        return await self._store.read(self._server, address, count)

    @property
    def image(self) -> Sequence[int]:
        """The registers as served (a client's writes in them), read-only."""
        return tuple(self._image)

    @property
    def connections(self) -> int:
        """Clients connected now."""
        return sum(1 for connection in self._connections if connection.open)

    async def _refresh_loop(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                await self.refresh()
            except Exception:
                # Once per run of failures, not every second.
                if not failing:
                    _LOGGER.exception("Simulated inverter cannot refresh its registers")
                failing = True
            else:
                failing = False

    def _written(self, address: int, values: Sequence[int]) -> None:
        """A client's write, as pymodbus takes it: into the image, then to its owner."""
        for offset, value in enumerate(values):
            if 0 <= address + offset < REGISTER_SPACE:
                self._image[address + offset] = value & 0xFFFF
        self.writes.append((address, tuple(values)))
        if self._on_write is not None:
            self._on_write(address, values)

    # --- connections --------------------------------------------------------------

    def _adopt(self, handler: Any) -> Any:
        """Stand between pymodbus and one new connection (before it is made)."""
        connection = _Connection(next(self._numbers), handler)
        made = handler.connection_made
        received = handler.data_received
        # pymodbus answers through ``low_level_send`` (bound to ``send`` at its start).
        outlet = "low_level_send" if hasattr(handler, "low_level_send") else "send"
        send = getattr(handler, outlet)

        def connection_made(transport: asyncio.BaseTransport) -> None:
            made(transport)
            # Clients that left are forgotten here (a long run sees many come and go).
            self._connections = {other for other in self._connections if other.open}
            taken = bool(self._connections)
            if self._server is None or (self.one_client and taken):
                self.refused += 1
                _LOGGER.debug(
                    "Simulated inverter refused connection %s: its one slot is taken",
                    connection.number,
                )
                self._drop(connection, reset=self.refuse_with_reset)
                return
            connection.admitted = True
            self._connections.add(connection)
            self.accepted += 1

        def data_received(data: bytes) -> None:
            if not connection.admitted or not connection.open:
                return
            for frame in connection.frames(data):
                request = _request(connection.number, frame)
                self.requests.append(request)
                self.request_count += 1
                connection.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, connection.in_flight)
                if self.on_request is not None:
                    self.on_request(request)
            if self.silent or not connection.open:
                return
            received(data)

        def answer(data: bytes, addr: tuple[Any, ...] | None = None) -> None:
            connection.in_flight = max(0, connection.in_flight - 1)
            send(data, addr)

        handler.connection_made = connection_made
        handler.data_received = data_received
        setattr(handler, outlet, answer)
        return handler

    def _drop(self, connection: _Connection, *, reset: bool) -> None:
        self._connections.discard(connection)
        transport = getattr(connection.handler, "transport", None)
        if transport is None:
            return
        if reset:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
        connection.handler.close()


# The battery's feed-in limit (% of the inverter's power): in its reports, not a
# setting we change (codec/settings.py), but a register a Modbus client may write.
_FEED_IN: Final = "SetFeed"


def _wire_form(setting: Setting, value: SettingValue) -> str:
    """``value`` as the battery writes it in a report ("true", "90", "2")."""
    if setting.kind is SettingKind.SWITCH:
        return "true" if value else "false"
    return str(int(value))


class SimulatedInverter:
    """The simulated battery's inverter, read (and written) over Modbus TCP.

    Its registers are the model's, encoded by the register map the reader decodes
    with; beside a :class:`~.battery.SimulatedBattery` (:meth:`beside`) it shares that
    battery's model, settings and clock, so both links tell the same numbers.
    """

    def __init__(
        self,
        model: BatteryModel | None = None,
        *,
        control: BatteryControl | None = None,
        identity: Identity | None = None,
        clock: Callable[[], datetime] | None = None,
        scales: Scales = DOCUMENTED,
        host: str = "127.0.0.1",
        port: int = PORT,
        unit: int = UNIT,
        one_client: bool = True,
        refuse_with_reset: bool = False,
        refresh_interval: float = REFRESH_INTERVAL,
    ) -> None:
        """Prepare the inverter; ``clock`` (battery time) is the host's unless given."""
        if clock is None:
            begin = datetime.now().replace(microsecond=0)  # noqa: DTZ005 - battery clock is naive local
            origin = time.monotonic()

            def clock() -> datetime:
                return begin + timedelta(seconds=time.monotonic() - origin)

        self.clock = clock
        # The model starts at the battery clock's now: a model ahead of the clock
        # would stand still until the clock caught up with it.
        self.model = model or BatteryModel(clock())
        self.control = control or BatteryControl(self.model)
        self.identity = identity or Identity()
        self.scales = scales
        # The minutes of the window ends: Modbus holds them, the cloud link does not.
        self.minutes: dict[str, int] = {}
        self._restores: set[asyncio.Task[None]] = set()  # of ignored writes
        self.server = InverterServer(
            self.registers,
            host=host,
            port=port,
            unit=unit,
            one_client=one_client,
            refuse_with_reset=refuse_with_reset,
            on_write=self._written,
            refresh_interval=refresh_interval,
        )

    @classmethod
    def beside(cls, battery: SimulatedBattery, **options: Any) -> SimulatedInverter:
        """The inverter of ``battery``: the same model, settings, identity and clock."""
        return cls(
            battery.model,
            control=battery.control,
            identity=battery.identity,
            clock=battery.clock,
            **options,
        )

    @property
    def port(self) -> int:
        """The port it listens on (the one given to :meth:`start` once started)."""
        return self.server.port

    async def start(self) -> None:
        """Listen; registers are fresh from the first request on."""
        await self.server.start()

    async def close(self) -> None:
        """Stop listening and drop every client (bounded)."""
        for restore in self._restores:
            restore.cancel()
        await asyncio.gather(*self._restores, return_exceptions=True)
        await self.server.close()

    def sample(self) -> Sample:
        """The model's state now (the live registers say it)."""
        self.model.advance_to(self.clock())
        # Without a cloud link nobody else drops the rows kept for its Resume.
        self.model.forget_before(self.model.now - KEPT_FOR)
        return self.model.snapshot()

    def settings(self) -> dict[str, SettingValue]:
        """The battery's settings as the register map keys them, minutes included."""
        values: dict[str, SettingValue] = {}
        for setting in SETTINGS:
            value = setting.read(self.control.settings)
            if value is not None:
                values[setting.key] = value
        values.update(self.minutes)
        return values

    def registers(self) -> dict[int, int]:
        """Every register the inverter serves, from the model and settings now."""
        sample = self.sample()
        words = encode_live(sample, scales=self.scales)
        words.update(
            encode_identity(
                self.identity.serial,
                inverter_serial=self.identity.inverter_serial,
                capacity_kwh=self.model.capacity_kwh,
                at=self.clock(),
            )
        )
        feed_in = parse_float(self.control.settings.get(_FEED_IN))
        words.update(
            encode_settings(
                self.settings(),
                feed_in_limit=100 if feed_in is None else round(feed_in),
                pv_capacity_w=round(self.model.pv_peak),
            )
        )
        return words

    def _written(self, address: int, values: Sequence[int]) -> None:
        """A client wrote registers: settings ones reach the battery's settings."""
        written = range(address, address + len(values))
        if not any(set(written) & set(block.addresses) for block in SETTINGS_BLOCKS):
            return
        image = self.server.image
        words = {a: image[a] for block in SETTINGS_BLOCKS for a in block.addresses}
        decoded = RegisterMap().settings(words)
        taken: dict[str, object] = {}
        for setting in SETTINGS:
            value = decoded.get(setting.key)
            if value is not None:
                taken[setting.wire_key] = _wire_form(setting, value)
        if 0 <= words[FEED_IN_LIMIT] <= 100:
            taken[_FEED_IN] = str(words[FEED_IN_LIMIT])
        self.control.written(taken)
        if not self.control.ignore_settings:
            self.minutes = {
                key: int(value)
                for key, value in decoded.items()
                if key.endswith("_minute")
            }
            return
        # Ignored: the registers read back what the battery runs with, not the write
        # (pymodbus's store takes the write after this call: restored just after).
        restore = asyncio.get_running_loop().create_task(self.server.refresh())
        self._restores.add(restore)
        restore.add_done_callback(self._restores.discard)
