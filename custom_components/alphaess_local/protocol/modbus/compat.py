"""pymodbus's client behind one small interface, for each version Home Assistant ships.

Home Assistant 2025.4 ships pymodbus 3.8.3 and 2026.7 onwards 3.13.x; an integration
cannot pin its own (it would fight Home Assistant's), so the reader must work with
any of them. Between those versions the unit argument was renamed (``slave=`` up to
3.9, ``device_id=`` from 3.10), a request cancelled from outside became a
``ModbusIOException`` (3.10+) instead of a ``CancelledError``, and only the newer
ones check an answer's transaction id. Everything version-dependent lives here, found
by looking at what the installed pymodbus offers, never by its version number; the
reader sees one :class:`ModbusLink` and the errors below, no pymodbus type.

pymodbus is imported on first use only: the library's base install has no
dependency, and importing it must not need pymodbus (``pip install
alphaess-local[modbus]`` adds it).

What this module adds to pymodbus's client:

- Its own connect (``loop.create_connection`` with the client's protocol object), so
  a refusal (``ConnectionRefusedError``) is told apart from an unreachable host, and
  pymodbus neither retries nor reconnects on its own: the reader owns the backoff.
- A request raced against the loss of the link: pymodbus 3.8 leaves a request waiting
  for its timeout when the peer closes; the reader must know at once.
- A close with a reset (``SO_LINGER`` 0): an inverter serves one client and a socket
  left in FIN_WAIT or half-open keeps holding its only slot for minutes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import errno
import functools
import inspect
import socket
import struct
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

MAX_REGISTERS = 125  # Modbus' limit for one function-3 read
MAX_WRITE = 123  # and for one function-16 write
CLOSE_TIMEOUT = 1.0  # what is left of a cancelled request, at most


class LinkError(Exception):
    """A Modbus link failed; the subclass says how."""


class LinkRefusedError(LinkError):
    """The TCP connection was refused (an RST answered the SYN)."""


class LinkUnreachableError(LinkError):
    """No TCP connection in time, or the network said the host cannot be reached."""


class LinkClosedError(LinkError):
    """The peer closed or reset the connection."""


class LinkTimeoutError(LinkError, TimeoutError):
    """No answer to a request within its timeout."""


class LinkAnswerError(LinkError):
    """The unit answered with a Modbus exception (e.g. 2: illegal data address)."""

    def __init__(self, code: int) -> None:
        """Keep the exception code: 2 means a block the model does not have."""
        super().__init__(f"Modbus exception {code}")
        self.code = code


class LinkBadAnswerError(LinkError):
    """An answer that is not what was asked for (wrong length or function)."""


@functools.cache
def pymodbus() -> ModuleType:
    """The pymodbus package, imported on first use (it is an optional dependency)."""
    import pymodbus as module  # optional: only when Modbus is used
    import pymodbus.client

    return module


def pymodbus_version() -> str:
    """The installed pymodbus version, for diagnostics."""
    return str(getattr(pymodbus(), "__version__", "unknown"))


@functools.cache
def unit_keyword() -> str:
    """``device_id`` (pymodbus 3.10+) or ``slave`` (3.8, 3.9): the unit's argument."""
    client = pymodbus().client.AsyncModbusTcpClient
    parameters = inspect.signature(client.read_holding_registers).parameters
    return "device_id" if "device_id" in parameters else "slave"


def _set_reset_on_close(transport: asyncio.BaseTransport | None) -> None:
    """Make the socket's close send an RST (SO_LINGER on, 0 s), not a FIN."""
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class ModbusLink:
    """One TCP connection to one Modbus unit; one request at a time.

    Made by :meth:`open`; :meth:`close` is the only way to end it (and must be
    called even after the peer closed: it awaits what is left of a request).
    """

    def __init__(self, client: Any, unit: int, peer: str) -> None:
        """Wrap a connected client (use :meth:`open`)."""
        self._client = client
        self._unit = unit
        self.peer = peer
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending: set[asyncio.Future[Any]] = set()
        self._busy = False
        self._closed = False

    @classmethod
    async def open(
        cls, host: str, port: int, unit: int, *, timeout: float
    ) -> ModbusLink:
        """Connect to ``host:port`` only; raise LinkRefusedError or LinkUnreachableError."""
        module = pymodbus()
        link: ModbusLink | None = None

        def on_connect(connected: bool) -> None:  # noqa: FBT001 - pymodbus calls it
            if not connected and link is not None:
                link.lost()

        # No retries, no reconnect of its own (reconnect_delay 0): a request that is
        # not answered is the reader's to judge. pymodbus's own request timeout is
        # a backstop behind the reader's (which fires first).
        client = module.client.AsyncModbusTcpClient(
            host,
            port=port,
            timeout=timeout * 2 + 1,
            retries=0,
            reconnect_delay=0,
            trace_connect=on_connect,
        )
        link = cls(client, unit, f"{host}:{port}")
        protocol = getattr(client, "ctx", None)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                if protocol is not None and hasattr(protocol, "connection_made"):
                    await loop.create_connection(lambda: protocol, host, port)
                    connected = True
                else:  # a layout this code does not know: pymodbus's own connect
                    connected = await client.connect()
        except ConnectionRefusedError as err:
            link.abandon()
            raise LinkRefusedError(f"{link.peer} refused the connection") from err
        except (TimeoutError, OSError) as err:
            link.abandon()
            if isinstance(err, OSError) and err.errno == errno.ECONNRESET:
                raise LinkClosedError(f"{link.peer} reset the connection") from err
            raise LinkUnreachableError(
                f"cannot connect to {link.peer}: {err!r}"
            ) from err
        except BaseException:
            link.abandon()
            raise
        if not connected:
            link.abandon()
            raise LinkUnreachableError(f"cannot connect to {link.peer}")
        return link

    @property
    def transport(self) -> asyncio.BaseTransport | None:
        """The client's transport while connected."""
        protocol = getattr(self._client, "ctx", None)
        return getattr(protocol, "transport", None)

    @property
    def is_lost(self) -> bool:
        """The peer closed or reset the connection."""
        return self._lost.done()

    def lost(self) -> None:
        """Pymodbus saw the connection end (its ``trace_connect(False)``)."""
        if not self._lost.done():
            self._lost.set_result(None)

    async def read(self, start: int, count: int, *, timeout: float) -> list[int]:
        """Read ``count`` holding registers from ``start`` (function 3).

        One request at a time: a second call while one is in flight is a bug in the
        caller, not a queue. Raises :class:`LinkError` subclasses only.
        """
        if not 1 <= count <= MAX_REGISTERS:
            raise ValueError(f"count {count} outside 1..{MAX_REGISTERS}")
        response = await self._request(
            lambda unit: self._client.read_holding_registers(
                start, count=count, **unit
            ),
            f"a read at {start:#06x}",
            timeout,
        )
        registers = getattr(response, "registers", None)
        if not isinstance(registers, list) or len(registers) != count:
            raise LinkBadAnswerError(
                f"{self.peer}: {len(registers or ())} registers for {count} asked"
            )
        return [int(word) & 0xFFFF for word in registers]

    async def write(self, start: int, words: list[int], *, timeout: float) -> None:
        """Write ``words`` to the holding registers from ``start``.

        Function 6 for one register, 16 for more (some inverters take only one of
        them for a single register; 6 is what every source writes). One request at a
        time, as :meth:`read`; raises :class:`LinkError` subclasses only.
        """
        if not 1 <= len(words) <= MAX_WRITE or any(not 0 <= w <= 0xFFFF for w in words):
            raise ValueError(f"cannot write {words!r}")
        if len(words) == 1:
            await self._request(
                lambda unit: self._client.write_register(start, words[0], **unit),
                f"a write at {start:#06x}",
                timeout,
            )
        else:
            await self._request(
                lambda unit: self._client.write_registers(start, words, **unit),
                f"a write at {start:#06x}",
                timeout,
            )

    async def _request(
        self, call: Callable[[dict[str, int]], Any], what: str, timeout: float
    ) -> Any:
        """Send one request and return pymodbus's answer to it, never an error one."""
        if self._busy:
            raise RuntimeError("one request at a time on a Modbus link")
        if self._closed or self.is_lost or self.transport is None:
            raise LinkClosedError(f"{self.peer} is not connected")
        self._busy = True
        try:
            request: asyncio.Future[Any] = asyncio.ensure_future(
                call({unit_keyword(): self._unit})
            )
            try:
                await asyncio.wait(
                    (request, self._lost),
                    timeout=timeout,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                if not request.done():
                    # pymodbus 3.10+ turns this cancel into a ModbusIOException
                    # inside the request; it is retrieved, never raised here.
                    request.cancel()
                    self._pending.add(request)
                    request.add_done_callback(self._forget)
            return self._answer(request, what)
        finally:
            self._busy = False

    def _forget(self, request: asyncio.Future[Any]) -> None:
        self._pending.discard(request)
        if not request.cancelled():
            request.exception()  # retrieved: no "never retrieved" warning

    def _answer(self, request: asyncio.Future[Any], what: str) -> Any:
        if not request.done():
            if self.is_lost:
                raise LinkClosedError(f"{self.peer} closed the connection")
            raise LinkTimeoutError(f"no answer from {self.peer} to {what}")
        if request.cancelled():
            raise LinkClosedError(f"{what} was cancelled")
        err = request.exception()
        if err is not None:
            exceptions = pymodbus().exceptions
            if self.is_lost or isinstance(err, exceptions.ConnectionException):
                raise LinkClosedError(f"{self.peer} closed the connection") from err
            if isinstance(err, exceptions.ModbusIOException):
                raise LinkTimeoutError(f"no answer from {self.peer}") from err
            raise LinkBadAnswerError(f"{self.peer}: {type(err).__name__}") from err
        response = request.result()
        if response is None:
            raise LinkBadAnswerError(f"{self.peer}: no answer object")
        if response.isError():
            raise LinkAnswerError(int(getattr(response, "exception_code", 0)))
        return response

    def abandon(self) -> None:
        """Drop a link that never connected (or that open() is giving up on)."""
        self._closed = True
        _set_reset_on_close(self.transport)
        with contextlib.suppress(Exception):
            self._client.close()

    async def close(self) -> None:
        """Close with a reset, so the inverter frees its one slot at once.

        Awaits the remains of a request cancelled on timeout (they end on the next
        turns of the loop), so nothing of the link outlives this call.
        """
        if not self._closed:
            self._closed = True
            _set_reset_on_close(self.transport)
            with contextlib.suppress(Exception):
                self._client.close()
        if self._pending:
            # Each ends within a turn or two of the loop once cancelled; the bound is
            # for a pymodbus that would not. Their outcome is retrieved by _forget.
            await asyncio.wait(set(self._pending), timeout=CLOSE_TIMEOUT)
        # The transport closes its socket on the loop's next turn: let it.
        await asyncio.sleep(0)
