"""Settings changes over Modbus: the reader as a settings channel, over loopback.

Against the simulated inverter (pymodbus's own server): a change is written between
two polls on the one link, counts only once the registers read back hold it, and
reaches the owner as the system report a poll would give.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from custom_components.alphaess_local.protocol import (
    ModbusNotApplied,
    ModbusReader,
    ServerError,
    SettingValue,
    SystemReport,
    build_answer,
    minute_key,
)
from custom_components.alphaess_local.protocol.modbus.registers import (
    CHARGE_HOURS,
    CHARGE_MINUTES,
    TIME_PERIOD_CONTROL,
)

from .conftest import EventLog, Ticks
from .modbus_server import HOST, PATIENCE, UNIT

pytestmark = pytest.mark.usefixtures("socket_enabled")


def reports(log: EventLog) -> list[SystemReport]:
    return log.messages(SystemReport)


async def started(
    inverter: Any, log: EventLog, ticks: Ticks, interval: float = 0.05
) -> tuple[ModbusReader, str]:
    reader = ModbusReader(
        log,
        host=HOST,
        port=inverter.port,
        unit=UNIT,
        interval=interval,
        ticks=ticks,
        request_timeout=PATIENCE,
    )
    await reader.start()
    await log.wait_for(lambda: bool(reports(log)))
    return reader, reports(log)[-1].serial


async def change(
    reader: ModbusReader, log: EventLog, serial: str, changes: Mapping[str, Any]
) -> SystemReport:
    """As the integration's control does: the last report, the changes in it."""
    answer, _ = build_answer(reports(log)[-1].raw, changes)
    reader.hand_config(serial, answer)
    await reader.set_config(serial, timeout=PATIENCE)
    return reports(log)[-1]


async def test_a_window_end_is_written_and_confirmed_by_reading_it_back(
    make_inverter: Any, ticks: Ticks
) -> None:
    inverter = await make_inverter()
    log = EventLog()
    reader, serial = await started(inverter, log, ticks)
    try:
        before = len(reports(log))
        report = await change(
            reader, log, serial, {"TimeChaF1": 2, minute_key("TimeChaF1"): 30}
        )
        # The read-back's report, the minute in it under the hour's key.
        assert len(reports(log)) == before + 1
        assert (report.raw["TimeChaF1"], report.raw["TimeChaF1_minute"]) == (2, 30)
        # Written once, hour and minute each to its own register.
        written = [(a, v) for a, v in inverter.server.writes if a >= CHARGE_HOURS]
        assert written == [(CHARGE_HOURS, (2,)), (CHARGE_MINUTES, (30,))]
        settings = inverter.settings()
        assert settings["charge_window_1_start"] == 2
        assert settings["charge_window_1_start_minute"] == 30
    finally:
        await reader.close()


async def test_a_write_the_inverter_ignores_is_not_applied(
    make_inverter: Any, ticks: Ticks
) -> None:
    inverter = await make_inverter()
    inverter.control.ignore_settings = True
    log = EventLog()
    reader, serial = await started(inverter, log, ticks)
    try:
        with pytest.raises(ModbusNotApplied) as raised:
            await change(reader, log, serial, {"BatHighCap": 90})
        # The error the cloud link's channel raises: one failure for the control.
        assert isinstance(raised.value, ServerError)
        # What the inverter reads back is reported: the entities show the truth.
        assert reports(log)[-1].raw["BatHighCap"] == 100
    finally:
        await reader.close()


async def test_switching_grid_charging_keeps_timed_discharge(
    make_inverter: Any, ticks: Ticks
) -> None:
    inverter = await make_inverter()
    inverter.control.settings["CtrDis"] = "true"
    await inverter.server.refresh()
    log = EventLog()
    reader, serial = await started(inverter, log, ticks)
    try:
        assert reports(log)[-1].raw["CtrDis"] is True
        report = await change(reader, log, serial, {"GridCharge": True})
        assert (report.raw["GridCharge"], report.raw["CtrDis"]) == (True, True)
        assert (TIME_PERIOD_CONTROL, (3,)) in inverter.server.writes
        report = await change(reader, log, serial, {"GridCharge": False})
        assert (report.raw["GridCharge"], report.raw["CtrDis"]) == (False, True)
        assert inverter.settings()["discharge_control"] is True
    finally:
        await reader.close()


async def test_writes_wait_for_the_poll_never_two_requests_in_flight(
    make_inverter: Any, ticks: Ticks
) -> None:
    """Polls back to back, changes among them: one request at a time on the link."""
    inverter = await make_inverter()
    log = EventLog()
    reader, serial = await started(inverter, log, ticks, interval=0.0)
    try:
        polls = reader.stats.polls
        for percent in (90, 80, 95, 85):
            report = await change(reader, log, serial, {"BatHighCap": percent})
            assert report.raw["BatHighCap"] == percent
        assert reader.stats.polls > polls  # the poller went on among the writes
        assert inverter.server.max_in_flight == 1
        assert reader.connected_serials == frozenset({serial})
    finally:
        await reader.close()


async def test_nothing_handed_or_nothing_connected_is_not_applied(
    make_inverter: Any, ticks: Ticks
) -> None:
    inverter = await make_inverter()
    log = EventLog()
    reader, serial = await started(inverter, log, ticks)
    try:
        with pytest.raises(ModbusNotApplied):
            await reader.set_config(serial, timeout=PATIENCE)
        changes: dict[str, SettingValue] = {"BatHighCap": 90}
        reader.hand_config(serial, build_answer(reports(log)[-1].raw, changes)[0])
        reader.withdraw_config(serial)
        with pytest.raises(ModbusNotApplied):
            await reader.set_config(serial, timeout=PATIENCE)
    finally:
        await reader.close()
    reader.hand_config(serial, {"BatHighCap": 90})
    with pytest.raises(ModbusNotApplied):
        await reader.set_config(serial, timeout=PATIENCE)
