"""A simulated AlphaESS inverter on loopback, answered by pymodbus's own server.

For every Modbus test (the reader's, the integration's, the simulator's own)::

    async with simulated_inverter() as inverter:       # listening on 127.0.0.1
        reader = ModbusReader(..., host=HOST, port=inverter.port)
        inverter.server.silent = True                  # asleep: reads, never answers
        inverter.server.overrides[0x0126] = 0xFFFF     # nonsense in a register
        await inverter.server.refresh()                # registers follow now
        await inverter.close(); await inverter.start() # stopped, then back (same port)

or the ``make_inverter`` fixture (``await make_inverter(one_client=False)``), closed
after the test. The battery's clock is a :class:`BatteryClock` the test moves
(``inverter.clock.advance(10)``); the registers follow it at ``refresh()`` (the
periodic refresh is off unless ``refresh_interval`` is given), so what a client
reads is known: ``expected_registers(inverter)``.

What clients did: ``inverter.server.requests`` (each :class:`ModbusRequest`: the
connection it came on, function, address, count, values written),
``request_count``, ``max_in_flight`` (requests sent before the previous one was
answered, per connection), ``accepted``/``refused`` connections, ``writes``
(address, values) as pymodbus took them, ``connections`` open now.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
import contextlib
from datetime import datetime, timedelta
import inspect
from typing import Any

import pytest

from custom_components.alphaess_local.protocol.modbus.registers import (
    DOCUMENTED,
    Scales,
)
from custom_components.alphaess_local.protocol.simulator.modbus_server import (
    UNIT,
    ModbusRequest,
    SimulatedInverter,
)
from custom_components.alphaess_local.protocol.simulator.model import BatteryModel

__all__ = [
    "HOST",
    "PATIENCE",
    "START",
    "UNIT",
    "BatteryClock",
    "ModbusRequest",
    "SimulatedInverter",
    "expected_registers",
    "make_inverter",
    "simulated_inverter",
    "unit_argument",
    "wait_until",
]

HOST = "127.0.0.1"
# Far longer than anything takes on a loaded machine, below the test's own limit.
PATIENCE = 30.0
# Midday in June: PV, battery and grid all have power to show.
START = datetime(2026, 6, 21, 12, 0)
# The periodic refresh, off in tests: registers change when the test says.
NO_REFRESH = 24 * 3600.0


class BatteryClock:
    """The battery's clock (naive local time), moved only by the test."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextlib.asynccontextmanager
async def simulated_inverter(
    *,
    one_client: bool = True,
    silent: bool = False,
    stopped: bool = False,
    refuse_with_reset: bool = False,
    scales: Scales = DOCUMENTED,
    clock: BatteryClock | None = None,
    model: BatteryModel | None = None,
    unit: int = UNIT,
    refresh_interval: float = NO_REFRESH,
) -> AsyncIterator[SimulatedInverter]:
    """A simulated inverter on 127.0.0.1 (a free port), closed (bounded) on exit.

    ``stopped`` leaves it not listening on the port it had (connections are
    refused) until ``await inverter.start()``.
    """
    clock = clock or BatteryClock()
    inverter = SimulatedInverter(
        model or BatteryModel(clock()),
        clock=clock,
        scales=scales,
        host=HOST,
        port=0,
        unit=unit,
        one_client=one_client,
        refuse_with_reset=refuse_with_reset,
        refresh_interval=refresh_interval,
    )
    inverter.server.silent = silent
    await inverter.start()
    try:
        if stopped:
            await inverter.close()
        yield inverter
    finally:
        async with asyncio.timeout(PATIENCE):
            await inverter.close()


@pytest.fixture
async def make_inverter(
    socket_enabled: None,
) -> AsyncGenerator[Callable[..., Any]]:
    """``await make_inverter(**options)``: a started inverter, closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def _make(**options: Any) -> SimulatedInverter:
            return await stack.enter_async_context(simulated_inverter(**options))

        yield _make


def expected_registers(inverter: SimulatedInverter) -> dict[int, int]:
    """What the inverter serves for its model now (after ``server.refresh()``)."""
    return inverter.registers() | inverter.server.overrides


def unit_argument(unit: int = UNIT) -> dict[str, int]:
    """A plain pymodbus client's unit keyword: ``slave=`` before 3.10, then ``device_id=``."""
    from pymodbus.client.mixin import ModbusClientMixin

    parameters = inspect.signature(ModbusClientMixin.read_holding_registers).parameters
    return {"device_id" if "device_id" in parameters else "slave": unit}


async def wait_until(predicate: Callable[[], bool], timeout: float = PATIENCE) -> None:
    """Until ``predicate()`` holds (checked every 10 ms), failing after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)
