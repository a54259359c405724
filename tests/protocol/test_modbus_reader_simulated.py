"""The reader against the simulated inverter (the simulator's Modbus server).

The simulated inverter serves the battery model's registers from pymodbus's server
and keeps the real one's limit: one client at a time, a second one closed at once.
Two readers (two Home Assistants, or one and a vendor app) show what an owner sees:
the second is told the slot is taken, once; when the first lets go (with a reset,
which frees the slot at once) the second gets in and is told the link is back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from custom_components.alphaess_local.protocol.codec.records import RealtimeRecord
from custom_components.alphaess_local.protocol.modbus.events import (
    LinkRestored,
    LinkTrouble,
    Trouble,
)
from custom_components.alphaess_local.protocol.modbus.reader import ModbusReader
from custom_components.alphaess_local.protocol.server.events import Received

from .conftest import EventLog, Ticks
from .modbus_server import HOST, PATIENCE, UNIT

pytestmark = pytest.mark.usefixtures("socket_enabled")


def records(log: EventLog) -> int:
    return sum(
        isinstance(e, Received) and isinstance(e.message, RealtimeRecord)
        for e in log.events
    )


async def test_a_second_reader_is_told_the_slot_is_taken_until_the_first_leaves(
    make_inverter: Any, ticks: Ticks
) -> None:
    inverter = await make_inverter(one_client=True)
    first_log, second_log = EventLog(), EventLog()
    options: dict[str, Any] = {
        "host": HOST,
        "port": inverter.port,
        "unit": UNIT,
        "interval": 0.05,
        "ticks": ticks,
        "request_timeout": 5.0,
        "reconnect_delay": 0.01,
        "reconnect_delay_max": 0.05,
    }
    first = ModbusReader(first_log, **options)
    second = ModbusReader(second_log, **options)
    try:
        await first.start()
        await first_log.wait_for(lambda: records(first_log) >= 1)
        serial = next(iter(first.connected_serials))
        await second.start()
        await second_log.wait_for(
            lambda: any(isinstance(e, LinkTrouble) for e in second_log.events)
        )
        # Several refused attempts later: told once, and the first reads on.
        refused = inverter.server.refused
        async with asyncio.timeout(PATIENCE):
            while inverter.server.refused < refused + 3:
                await asyncio.sleep(0.01)
        troubles = [e for e in second_log.events if isinstance(e, LinkTrouble)]
        assert [t.trouble for t in troubles] == [Trouble.SLOT_TAKEN]
        assert records(second_log) == 0
        before = records(first_log)
        await first_log.wait_for(lambda: records(first_log) > before)

        await first.close()
        await second_log.wait_for(lambda: records(second_log) >= 1)
        restored = [e for e in second_log.events if isinstance(e, LinkRestored)]
        assert [r.serial for r in restored] == [serial]
        assert second.connected_serials == frozenset({serial})
        assert inverter.server.max_in_flight == 1
    finally:
        await first.close()
        await second.close()
