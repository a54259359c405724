"""History and push bookkeeping: duplicates, bursts, refusals, rows placed in time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
import json
import logging
from typing import Any
from zoneinfo import ZoneInfo

from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.alphaess_local import backfill
from custom_components.alphaess_local.backfill import hour_end_totals, real_time
from custom_components.alphaess_local.hourly_statistics import async_import_hours
from custom_components.alphaess_local.protocol import DetailedRecord, Frame
from custom_components.alphaess_local.protocol.codec.messages import build_record
from tests.conftest import warnings_logged

from .conftest import SERIAL, RecordedBattery
from .test_sensor import entity_id


def history_frame(session: dict[str, Any], rows: list[str]) -> Frame:
    return Frame(1, 12, "\n".join([session["csv_header"], *rows]).encode())


async def test_burst_of_late_pushes_updates_state_once(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    soc = entity_id(hass, "sensor", "state_of_charge")
    changes: list[str] = []
    hass.bus.async_listen(
        "state_changed",
        lambda event: changes.append(event.data["new_state"].state)
        if event.data["entity_id"] == soc
        else None,
    )
    base = client.session["realtime"][1]
    burst = [
        dict(base, Time=f"2021/03/24 10:0{n}:02", SOC=str(40 + n)) for n in (3, 4, 5)
    ]
    await client.send(
        b"".join(Frame(1, 16, json.dumps(r).encode()).encode() for r in burst)
    )
    await client.frames(len(client.received) + 3)
    await hass.async_block_till_done()
    assert changes == ["45.0"]


async def test_history_rows_sent_twice_are_filed_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    session = client.session
    frame = history_frame(session, session["history_rows"][:3])
    await client.request(12, frame.payload)
    await client.request(12, frame.payload)
    await client.request(
        12, history_frame(session, session["history_rows"][2:5]).payload
    )
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=backfill.UPLOAD_QUIET + 1)
    )
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.backfill.rows_filed == 5
    # Old rows never lower what the detailed record already said.
    assert loaded_entry.runtime_data.data[SERIAL].energy["pv"] == 433.0


async def test_unanswered_resume_is_left_alone_until_reconnect(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(backfill, "RESUME_TIMEOUT", 0.2)
    client: RecordedBattery = await battery()
    await client.replay()
    later = dict(client.session["realtime"][1], Time="2021/03/24 11:30:00")
    before = len(client.received)
    await client.request(16, later)
    command = (await client.frames(before + 2))[-1]
    assert command.header == (1, 1, 8)
    request = json.loads(command.payload)
    assert request["Command"] == "Resume"
    assert request["Parameter1"] == "2021/03/24 10:02:40"  # the detailed record
    assert request["Parameter2"] == str(88 + 1)
    coordinator = loaded_entry.runtime_data
    async with asyncio.timeout(5):
        while not coordinator.backfill.resumes_failed:
            await asyncio.sleep(0.05)
    # Rows could still come after a lost reply; none do, so the request is forgotten.
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=backfill.UPLOAD_QUIET + 1)
    )
    await hass.async_block_till_done()
    assert not coordinator.backfill.busy
    assert coordinator.data[SERIAL].owed_from is not None  # still owed
    assert caplog.text.count("did not accept the history request") == 1
    # Another gap on the same connection: not asked again.
    await client.request(16, dict(later, Time="2021/03/24 12:00:00"))
    assert coordinator.backfill.resumes_sent == 1
    # A new connection may be asked again.
    await client.close()
    again: RecordedBattery = await battery()
    await again.send(
        Frame(1, 16, json.dumps(dict(later, Time="2021/03/24 12:30:00")).encode())
    )
    frames = await again.frames(2)
    assert frames[1].header == (1, 1, 8)
    assert caplog.text.count("asking for") == 2
    assert logging.WARNING in {r.levelno for r in caplog.records}


def _row(minute: int, pv: float) -> DetailedRecord:
    stamp = datetime(2026, 1, 5, 9, 0) + timedelta(minutes=minute)
    return build_record(
        DetailedRecord,
        {"Time": stamp.strftime("%Y/%m/%d %H:%M:%S"), "EpvTotal": str(pv)},
    )


def test_hour_end_totals_only_complete_hours() -> None:
    # UTC here: a battery keeping UTC
    rows = [_row(m, 100 + m / 10) for m in range(150)]  # 09:00 … 11:29
    ends = hour_end_totals(rows, timedelta(0))
    hours = [dt_util.as_local(h).hour for h, _ in ends["pv"]]
    assert hours == [9, 10]  # 11:00 is not covered to its end
    assert ends["pv"][0][1] == pytest.approx(105.9)  # 09:59 row
    # Order and repeats do not matter: each hour keeps its last row.
    assert hour_end_totals(rows[::-1] + rows[:60], timedelta(0)) == ends
    # A battery clock 10 minutes fast: its 10:05 row belongs to 09:55 real time.
    shifted = hour_end_totals(rows, timedelta(minutes=10))
    assert [dt_util.as_local(h).hour for h, _ in shifted["pv"]] == [8, 9, 10]
    assert shifted["pv"][0][1] == pytest.approx(100.9)  # battery 09:09 = 08:59 real
    assert shifted["pv"][1][1] == pytest.approx(106.9)
    assert hour_end_totals([], timedelta(0)) == {}


@pytest.fixture
def berlin() -> Generator[ZoneInfo]:
    before = dt_util.get_default_time_zone()
    zone = ZoneInfo("Europe/Berlin")
    dt_util.set_default_time_zone(zone)
    yield zone
    dt_util.set_default_time_zone(before)


def test_rows_keep_their_place_when_daylight_saving_starts(berlin: ZoneInfo) -> None:
    """A battery on Berlin winter time is an hour ahead of UTC, summer or not."""
    offset = timedelta(hours=1)  # as measured: battery clock minus UTC
    # Battery clock 01:30 and 03:30 on the night summer time starts (at 01:00 UTC).
    assert real_time(datetime(2026, 3, 29, 1, 30), offset) == datetime(
        2026, 3, 29, 0, 30, tzinfo=UTC
    )
    assert real_time(datetime(2026, 3, 29, 3, 30), offset) == datetime(
        2026, 3, 29, 2, 30, tzinfo=UTC
    )
    # Rows through that night land in consecutive hours: none doubled, none lost.
    rows = [
        build_record(
            DetailedRecord,
            {
                "Time": (datetime(2026, 3, 29, 0, 0) + timedelta(minutes=m)).strftime(
                    "%Y/%m/%d %H:%M:%S"
                ),
                "EpvTotal": str(100 + m / 10),
            },
        )
        for m in range(5 * 60)
    ]
    hours = [start for start, _ in hour_end_totals(rows, offset)["pv"]]
    assert hours == [
        datetime(2026, 3, 28, 23, tzinfo=UTC) + timedelta(hours=n) for n in range(5)
    ]


def test_battery_state_survives_the_store_round_trip() -> None:
    from custom_components.alphaess_local.battery import BatteryState

    state = BatteryState(SERIAL)
    state.newest_record = datetime(2026, 1, 5, 9, 30)
    state.newest_energy_record = datetime(2026, 1, 5, 9, 29)
    state.energy["pv"] = 433.0
    state.owed_from = datetime(2026, 1, 5, 6, 0)
    state.owed_until = datetime(2026, 1, 5, 9, 30)
    state.filed_until["pv"] = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
    restored = BatteryState(SERIAL)
    restored.restore(json.loads(json.dumps(state.to_store())))
    assert restored.newest_record == state.newest_record
    assert restored.newest_energy_record == state.newest_energy_record
    assert restored.newest_event is None
    assert restored.energy == {"pv": 433.0}
    assert (restored.owed_from, restored.owed_until) == (
        state.owed_from,
        state.owed_until,
    )
    assert restored.filed_until == state.filed_until


async def test_no_hour_to_anchor_on_means_nothing_imported(
    recorder_mock: Recorder, hass: HomeAssistant
) -> None:
    """The first hours after installing: no chain to continue, so none is started."""
    entity = "sensor.alphaess_0042_pv_energy"
    hour = datetime(2026, 1, 5, 9, tzinfo=UTC)
    assert not await async_import_hours(hass, entity, [(hour, 433.0)])
    await async_wait_recording_done(hass)
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        hour - timedelta(days=1),
        hour + timedelta(days=1),
        {entity},
        "hour",
        None,
        {"state", "sum"},
    )
    assert found == {}


async def test_outage_longer_than_the_buffer_asks_for_its_last_seven_days(
    hass: HomeAssistant,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    # Eight days after the detailed record of 10:02:40: one day is beyond recovery.
    back = dict(client.session["realtime"][1], Time="2021/04/01 10:02:40")
    before = len(client.received)
    await client.request(16, back)
    command = (await client.frames(before + 2))[-1]
    request = json.loads(command.payload)
    assert request["Command"] == "Resume"
    assert request["Parameter1"] == "2021/03/25 10:02:40"
    assert request["Parameter2"] == str(7 * 24 * 60 + 1)
    warnings = [r.getMessage() for r in warnings_logged(caplog)]
    assert warnings == [
        "Battery AL90*********42: minutes before 2021-03-25 10:02:40 are beyond the "
        "battery's 7-day buffer; they cannot be recovered"
    ]


async def test_history_row_with_an_impossible_total_is_not_filed(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    session = client.session
    rows = list(session["history_rows"][:3])
    assert rows[1].count(",431.6,") == 1
    rows[1] = rows[1].replace(",431.6,", ",1000000000000,")
    await client.request(12, history_frame(session, rows).payload)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=backfill.UPLOAD_QUIET + 1)
    )
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.backfill.rows_filed == 2
    assert loaded_entry.runtime_data.data[SERIAL].energy["pv"] == 433.0


def test_rows_without_a_time_end_no_hour() -> None:
    timeless = build_record(DetailedRecord, {"EpvTotal": "433.0"})
    assert timeless.time is None
    assert hour_end_totals([timeless], timedelta(0)) == {}
    rows = [_row(m, 100 + m / 10) for m in range(61)]
    assert hour_end_totals([*rows, timeless], timedelta(0)) == hour_end_totals(
        rows, timedelta(0)
    )
