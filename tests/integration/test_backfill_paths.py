"""Backfill's less travelled paths, end to end: cut uploads, gaps during an upload,
hours the recorder has not compiled yet, shutting down while work is pending.

Same set-up as :mod:`.test_backfill` (recorder, simulated battery over loopback TCP,
frozen but ticking time), whose fixtures and helpers these tests reuse.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
import threading
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import (
    Recorder,
    get_instance,
    tasks as recorder_tasks,
)
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.alphaess_local import backfill
from custom_components.alphaess_local.battery import ENERGY_TOTALS, BatteryState
from custom_components.alphaess_local.protocol.simulator import (
    SimulatedBattery,
    history as simulator,
)
from custom_components.alphaess_local.protocol.simulator.model import Sample

from .conftest import SERIAL
from .test_backfill import (
    HOURLY_TOLERANCE,
    Scenario,
    hour_of,
    outage_and_check,
    resumes,
    running_scenario,
)

pytestmark = pytest.mark.freeze_time(tick=True)

STAMP = "%Y/%m/%d %H:%M:%S"


# The set-up of test_backfill.py (see there why).
@pytest.fixture
def enable_statistics() -> bool:
    return True


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    return {"commit_interval": 5}


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Leave asyncio's debug mode off (hundreds of simulated minutes per test)."""


@pytest.fixture
async def scenario(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> AsyncGenerator[Scenario]:
    async with running_scenario(hass, freezer, config_entry) as result:
        yield result


def battery_state(scenario: Scenario) -> BatteryState:
    state: BatteryState = scenario.coordinator.data[SERIAL]
    return state


async def test_upload_cut_by_a_dropped_link_leaves_the_rest_owed(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link drops in the middle of an upload; Home Assistant keeps running.

    The rows that arrived are filed at once, but only the hours they complete pay off
    the debt: the rest of the outage stays owed, and is asked for, from the first
    minute not filed, when the battery is back. Every outage hour ends up holding the
    battery's energy.
    """
    owed: dict[str, datetime | None] = {}

    async def cut_then_reconnect(scenario: Scenario, battery: SimulatedBattery) -> None:
        backfill_ = scenario.coordinator.backfill
        state = battery_state(scenario)
        battery.upload_limit = 25  # 75 of the ~185 minutes, then the upload stalls
        battery.go_online()
        await scenario.settle(until=lambda: backfill_.rows_arrived(SERIAL) >= 75)
        owed["until"] = state.owed_until
        owed["asked_from"] = state.owed_from
        battery.go_offline()  # the link drops; the battery stays away a moment
        await scenario.settle(until=lambda: not backfill_.busy)
        owed["from"] = state.owed_from
        assert state.owed_from is not None, "a cut upload settled the whole debt"
        owed["filed"] = min(state.filed_until.values())
        # Every total filed the hours the cut upload completed.
        assert len(state.filed_until) == len(ENERGY_TOTALS)
        battery.upload_limit = None
        # The rest is asked for from the filed hour's end as the battery's clock reads
        # it (measured, so not on a whole second); it ends at its newest row, not after
        # a quiet spell.
        monkeypatch.setattr(backfill, "UPLOAD_QUIET", 3600.0)
        battery.go_online()
        await scenario.settle(until=lambda: backfill_.resumes_answered >= 2)

    result = await outage_and_check(
        scenario, timedelta(hours=3), reconnect=cut_then_reconnect
    )
    assert len(result["outage_hours"]) >= 3
    # The cut upload filed the hour it completed, and paid off only that much.
    filed = owed["filed"]
    assert filed is not None
    assert result["gone_at"] < filed < result["back_at"]
    owed_from = owed["from"]
    assert owed_from is not None
    # (the battery's measured offset from UTC wanders by a second or so)
    assert abs(owed_from - scenario.battery_time(filed)) < timedelta(seconds=5)
    assert owed["asked_from"] is not None
    assert owed_from > owed["asked_from"]
    # The battery was asked again for the rest, from the first minute not filed.
    assert scenario.battery is not None
    first, again = resumes(scenario.battery)[-2:]
    assert first.parameters[0] == owed["asked_from"].strftime(STAMP)
    assert again.parameters[0] == owed_from.strftime(STAMP)


async def test_restart_while_the_newest_hour_waits_for_the_recorder(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The battery is back a second into a new hour, which the recorder compiles at
    ten seconds past: the hour just ended waits for that compile, and Home Assistant
    restarts in between.

    Nothing is written behind the stopped entry, and nothing is lost: the outage is
    still owed, asked for again after the restart, and its last hour filed once the
    recorder has compiled it.
    """
    hass = scenario.hass
    battery = await scenario.start_battery()
    hour = hour_of(dt_util.utcnow()) + timedelta(hours=1)
    # The compile of the hour's last five minutes is held until the entry is
    # unloaded, however slow the machine: the hour cannot be filed before.
    held = threading.Event()
    release = threading.Event()
    real_run = recorder_tasks.StatisticsTask.run

    def hold_the_compile(
        task: recorder_tasks.StatisticsTask, instance: Recorder
    ) -> None:
        if task.start == hour + timedelta(minutes=55):
            held.set()
            release.wait(timeout=60)  # only bounds a hang
        real_run(task, instance)

    monkeypatch.setattr(recorder_tasks.StatisticsTask, "run", hold_the_compile)
    # The recorder writes each import a moment after it is queued, as on a busy
    # machine: the hour is read back only once the recorder has written it.
    real_import = recorder_tasks.ImportStatisticsTask.run

    def slow_import(
        task: recorder_tasks.ImportStatisticsTask, instance: Recorder
    ) -> None:
        time.sleep(0.1)
        real_import(task, instance)

    monkeypatch.setattr(recorder_tasks.ImportStatisticsTask, "run", slow_import)
    await scenario.run_for(hour + timedelta(minutes=40) - dt_util.utcnow())
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=19))
    scenario.freezer.move_to(hour + timedelta(hours=1, seconds=1))
    async_fire_time_changed(hass)
    backfill_ = scenario.coordinator.backfill
    state = battery_state(scenario)
    battery.go_online()
    try:
        # Filed what the recorder has compiled; the last hour waits for its compile
        # (or, on a slow machine, the import waits behind the held compile).
        await scenario.settle(
            until=lambda: backfill_.rows_filed > 0
            and (not backfill_.busy or held.is_set())
        )
        asked_from = state.owed_from
        assert asked_from is not None
        assert not state.filed_until  # the only complete hour is not compiled yet
        assert await hass.config_entries.async_unload(scenario.entry.entry_id)
        await hass.async_block_till_done()
    finally:
        release.set()
    # Still owed after the restart, from the same minute.
    assert state.owed_from == asked_from
    stopped, filed_by_stopped = state, dict(state.filed_until)
    assert await hass.config_entries.async_setup(scenario.entry.entry_id)
    await hass.async_block_till_done()
    backfill_ = scenario.coordinator.backfill
    await scenario.settle(
        until=lambda: backfill_.resumes_answered >= 1 and not backfill_.busy
    )
    first, again = resumes(battery)[-2:]
    assert again.parameters[0] == first.parameters[0]
    await scenario.run_for(timedelta(minutes=2))
    state = battery_state(scenario)
    await scenario.settle(until=lambda: state.owed_from is None)
    assert state.filed_until["pv"] == hour + timedelta(hours=1)
    # The stopped entry wrote nothing after it was unloaded.
    assert stopped is not state
    assert stopped.filed_until == filed_by_stopped
    changes = await scenario.hourly_changes(hour, hour + timedelta(hours=1))
    for key, truth in scenario.truth(hour).items():
        assert changes[key][hour] == pytest.approx(truth, abs=HOURLY_TOLERANCE), key


async def test_rows_out_of_order_are_filed_once_the_last_minute_is_in(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The battery sends the whole upload in one frame, newest row first.

    The upload still ends with the row in the last minute asked for, wherever in its
    frame that row is: it is filed as soon as it is in, not after a quiet spell, and
    every outage hour holds the battery's energy, counted once.
    """
    real_csv = simulator.history_csv
    monkeypatch.setattr(simulator, "HISTORY_ROWS_PER_FRAME", 10_000)
    sent: list[int] = []

    def newest_first(rows: list[Sample], serial: str) -> bytes:
        sent.append(len(rows))
        return real_csv(list(reversed(rows)), serial)

    monkeypatch.setattr(simulator, "history_csv", newest_first)
    seen: dict[str, int] = {}

    async def reconnect(scenario: Scenario, battery: SimulatedBattery) -> None:
        backfill_ = scenario.coordinator.backfill
        battery.go_online()
        await scenario.settle(until=lambda: backfill_.resumes_answered >= 1)
        resume = resumes(battery)[-1]
        start = datetime.strptime(resume.parameters[0], STAMP)
        rows = len(battery.model.minute_rows(start, int(resume.parameters[1])))
        # Every frame sent and acknowledged: the server has handed each on.
        await scenario.settle(until=lambda: sum(sent) == rows)
        await scenario.quiet_link()
        await scenario.hass.async_block_till_done()
        seen["rows"] = rows
        seen["arriving"] = backfill_.rows_arrived(SERIAL)
        seen["filed"] = backfill_.rows_filed

    result = await outage_and_check(scenario, timedelta(hours=2), reconnect=reconnect)
    assert len(result["outage_hours"]) >= 2
    assert len(sent) == 1  # one frame, its last row the oldest
    # Taken as complete at its last frame: nothing left waiting for a quiet spell.
    assert seen["arriving"] == 0
    assert seen["filed"] == seen["rows"]


async def test_restart_while_rows_arrive_asks_again_for_all_of_them(
    scenario: Scenario,
) -> None:
    """Home Assistant restarts while an upload is arriving and has gone quiet.

    Nothing of it was filed, so nothing of the debt is settled: the stopped entry
    leaves no timer behind, and after the restart the battery is asked again from the
    same first minute. Every outage hour ends up holding the battery's energy.
    """
    hass = scenario.hass
    asked: dict[str, Any] = {}

    async def restart_mid_upload(scenario: Scenario, battery: SimulatedBattery) -> None:
        backfill_ = scenario.coordinator.backfill
        battery.upload_limit = 10  # 30 rows, then the upload stalls
        battery.go_online()
        await scenario.settle(until=lambda: backfill_.rows_arrived(SERIAL) >= 30)
        state = battery_state(scenario)
        asked["from"] = state.owed_from
        assert backfill_.busy  # waiting for the rest, or for its quiet spell
        battery.upload_limit = None
        assert await hass.config_entries.async_unload(scenario.entry.entry_id)
        await hass.async_block_till_done()
        assert not backfill_.busy
        assert state.owed_from == asked["from"]
        assert not state.filed_until
        assert await hass.config_entries.async_setup(scenario.entry.entry_id)
        await hass.async_block_till_done()
        backfill_ = scenario.coordinator.backfill
        await scenario.settle(
            until=lambda: backfill_.resumes_answered >= 1 and not backfill_.busy
        )

    await outage_and_check(scenario, timedelta(hours=2), reconnect=restart_mid_upload)
    assert scenario.battery is not None
    first, again = resumes(scenario.battery)[-2:]
    assert first.parameters[0] == asked["from"].strftime(STAMP)
    assert again.parameters[0] == first.parameters[0]


@pytest.fixture
async def scenario_without_recorder(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> AsyncGenerator[Scenario]:
    async with running_scenario(hass, freezer, config_entry, morning=False) as result:
        yield result


async def test_without_the_recorder_the_outage_is_not_asked_for_again(
    scenario_without_recorder: Scenario,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Home Assistant without the recorder has no statistics to file into.

    The buffered minutes are still fetched once (the live totals carry on from them),
    and the debt is then settled: the battery is not asked for the same minutes on
    every reconnection. The battery stamps its records at other seconds than its
    buffered rows, as a real one does (PROTOCOL.md: asked from 09:40:13, rows
    09:40:59 to 10:00:08): the upload still ends at the newest row it can hold, not
    after a quiet spell.
    """
    scenario = scenario_without_recorder
    scenario.freezer.move_to(dt_util.utcnow().replace(second=37))
    monkeypatch.setattr(backfill, "UPLOAD_QUIET", 3600.0)
    battery = await scenario.start_battery()
    # Records from here on fall 20 s after the buffered rows' second.
    await scenario.quiet_link()
    scenario.freezer.tick(timedelta(seconds=20))
    await scenario.run_for(timedelta(minutes=10))
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=30), step=timedelta(minutes=15))
    backfill_ = scenario.coordinator.backfill
    battery.go_online()
    await scenario.settle(until=lambda: backfill_.resumes_answered >= 1)
    resume = resumes(battery)[-1]
    start = datetime.strptime(resume.parameters[0], STAMP)
    rows = len(battery.model.minute_rows(start, int(resume.parameters[1])))
    await scenario.settle(until=lambda: backfill_.rows_filed >= rows)
    state = battery_state(scenario)
    assert state.owed_from is None
    assert not state.filed_until
    assert "The recorder is not running; history kept, not imported" in caplog.text
    battery.go_offline()
    battery.go_online()
    await scenario.run_for(timedelta(minutes=3))
    assert len(resumes(battery)) == 1


async def test_a_gap_while_an_upload_is_filed_is_asked_for_next(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The battery drops out again while its upload waits to be filed.

    The recorder is still compiling the hour the upload completes, so the rows wait;
    meanwhile the battery is away for five minutes. Filing settles only what the
    upload held: the new gap stays owed and the battery is asked for it next, from
    the first minute after the upload.
    """
    hass = scenario.hass
    battery = await scenario.start_battery()
    hour = hour_of(dt_util.utcnow()) + timedelta(hours=1)
    held = threading.Event()
    release = threading.Event()
    real_run = recorder_tasks.StatisticsTask.run

    def hold_the_compile(
        task: recorder_tasks.StatisticsTask, instance: Recorder
    ) -> None:
        if task.start == hour + timedelta(minutes=55):
            held.set()
            release.wait(timeout=60)  # only bounds a hang
        real_run(task, instance)

    monkeypatch.setattr(recorder_tasks.StatisticsTask, "run", hold_the_compile)
    await scenario.run_for(hour + timedelta(minutes=40) - dt_util.utcnow())
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=19))
    scenario.freezer.move_to(hour + timedelta(hours=1, seconds=1))
    async_fire_time_changed(hass)
    backfill_ = scenario.coordinator.backfill
    state = battery_state(scenario)
    battery.go_online()
    try:
        # The upload is in, its hour waits for the compile; the retry finds it held.
        await scenario.settle(
            until=lambda: backfill_.resumes_answered >= 1 and not backfill_.busy
        )
        # First the recorder's compile starts (and is held), then the retry comes.
        scenario.freezer.move_to(hour + timedelta(hours=1, seconds=15))
        async_fire_time_changed(hass)
        await scenario.settle(until=held.is_set)
        # Work queued behind it, as on a busy recorder: whoever waits for the
        # recorder's queue now waits for the compile.
        get_instance(hass).queue_task(recorder_tasks.CommitTask())
        scenario.freezer.move_to(hour + timedelta(hours=1, seconds=21))
        async_fire_time_changed(hass)
        await scenario.settle(until=lambda: backfill_._filer.filing(SERIAL))
        first = resumes(battery)[-1]
        asked_until = state.owed_until
        assert asked_until is not None
        # Away again for five minutes while the rows wait for the recorder.
        await scenario.quiet_link()
        battery.go_offline()
        scenario.freezer.tick(timedelta(minutes=5))
        async_fire_time_changed(hass)
        battery.go_online()
        await scenario.settle(
            until=lambda: state.owed_until is not None
            and state.owed_until > asked_until
        )
        assert len(resumes(battery)) == 1  # not while the first is being filed
    finally:
        release.set()
    await scenario.settle(until=lambda: not backfill_._filer.filing(SERIAL))
    assert state.owed_from is not None  # the new gap is still owed
    await scenario.settle(until=lambda: len(resumes(battery)) >= 2)
    again = resumes(battery)[-1]
    start = datetime.strptime(first.parameters[0], STAMP)
    first_end = start + timedelta(minutes=int(first.parameters[1]))
    assert datetime.strptime(again.parameters[0], STAMP) == first_end
    await scenario.settle(until=lambda: state.owed_from is None)
    assert state.filed_until["pv"] == hour + timedelta(hours=1)


async def test_an_outage_in_a_new_sensors_first_hour_is_not_imported(
    scenario: Scenario,
) -> None:
    """Installed at 08:01, away from 08:20 to 09:30: the hour from 08:00 has no
    statistics row before it to continue, so none is written (a second chain would
    contradict the recorder's own); the minutes are not asked for again."""
    battery = await scenario.start_battery()
    first_hour = hour_of(dt_util.utcnow())
    await scenario.run_for(first_hour + timedelta(minutes=20) - dt_util.utcnow())
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=70), step=timedelta(minutes=10))
    backfill_ = scenario.coordinator.backfill
    state = battery_state(scenario)
    battery.go_online()
    await scenario.settle(
        until=lambda: backfill_.resumes_answered >= 1 and not backfill_.busy
    )
    assert state.owed_from is None
    assert "pv" not in state.filed_until
    await scenario.run_for(timedelta(minutes=3))
    assert len(resumes(battery)) == 1


async def test_a_retry_waits_for_an_upload_that_is_arriving(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hour the upload completed waits for the recorder; meanwhile the battery
    reconnects and starts uploading again. The retry leaves the arriving upload be:
    what is filed is filed from that upload, once it is in, and the debt is paid."""
    monkeypatch.setattr(backfill, "UPLOAD_QUIET", 3600.0)
    hass = scenario.hass
    battery = await scenario.start_battery()
    hour = hour_of(dt_util.utcnow()) + timedelta(hours=1)
    await scenario.run_for(hour + timedelta(minutes=40) - dt_util.utcnow())
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=19))
    scenario.freezer.move_to(hour + timedelta(hours=1, seconds=1))
    async_fire_time_changed(hass)
    backfill_ = scenario.coordinator.backfill
    state = battery_state(scenario)
    battery.go_online()
    await scenario.settle(
        until=lambda: backfill_.resumes_answered >= 1 and not backfill_.busy
    )
    assert not state.filed_until  # its hour waits for the recorder's compile
    # The link drops and comes back at once; the new upload stalls half-way.
    battery.upload_limit = 1
    battery.go_offline()
    battery.go_online()
    await scenario.settle(until=lambda: backfill_.rows_arrived(SERIAL) > 0)
    scenario.freezer.move_to(hour + timedelta(hours=1, seconds=21))
    async_fire_time_changed(hass)  # the retry comes due
    assert not backfill_._filer.filing(SERIAL)  # it left the arriving upload be
    battery.upload_limit = None
    battery.go_offline()
    battery.go_online()
    await scenario.settle(until=lambda: state.owed_from is None)
    assert state.filed_until["pv"] == hour + timedelta(hours=1)
