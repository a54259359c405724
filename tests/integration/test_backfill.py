"""No gaps: outages are backfilled from the battery's buffer into hourly statistics.

Time is frozen but ticking (real I/O keeps working) and the test jumps it forward, so
hours pass in seconds while the recorder compiles statistics on its own schedule. The
simulated battery's clock follows Home Assistant's (plus an optional offset), and its
model is the ground truth.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
import contextlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
import threading
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder, tasks as recorder_tasks
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
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
from custom_components.alphaess_local.const import DOMAIN
from custom_components.alphaess_local.coordinator import AlphaEssCoordinator
from custom_components.alphaess_local.protocol import Command, ServerCommand
from custom_components.alphaess_local.protocol.simulator import (
    SimulatedBattery,
    history as simulated_history,
)
from custom_components.alphaess_local.protocol.simulator.model import (
    BatteryModel,
    Sample,
)

from ..protocol.conftest import HOST
from .conftest import SERIAL

# A day-long outage replays ~1 400 minutes through Home Assistant and the recorder:
# ~10 s on a quiet machine under coverage, several times that on a loaded one. The
# tests' own limit bounds a hang; waits inside them only have to outlast the work.
pytestmark = [pytest.mark.freeze_time(tick=True), pytest.mark.time_limit(240)]
SETTLE = 180.0

# Sensor key → attribute of the model's Totals.
TRUTH = {
    "pv_energy": "pv",
    "grid_import_energy": "grid_import",
    "grid_export_energy": "grid_export",
    "battery_charge_energy": "charge",
    "battery_discharge_energy": "discharge",
}
# Totals go over the wire with 0.1 kWh resolution; rows are one minute apart.
HOURLY_TOLERANCE = 0.21


@pytest.fixture
def enable_statistics() -> bool:
    """Let the recorder compile statistics on its own schedule."""
    return True


@pytest.fixture
def recorder_config() -> dict[str, Any]:
    """Commit on the recorder's own schedule, as Home Assistant does by default.

    The test plugin commits after every event instead: ten commits per simulated
    minute, the largest cost of these tests. Whatever reads the database here runs
    as a recorder task (compile, import) that commits first, or waits for the
    recording to be done.
    """
    return {"commit_interval": 5}


@pytest.fixture(autouse=True)
def enable_event_loop_debug() -> None:
    """Leave asyncio's debug mode off here (the plugin turns it on for every test).

    Each of these tests runs hundreds of simulated minutes through the whole stack,
    and debug mode captures a stack trace for every callback and future: 40 % of the
    run time. The same code (server, sessions, coordinator, backfill) runs with debug
    mode on in the rest of the suite, and Home Assistant checks thread safety itself.
    """


class Scenario:
    """A battery, its entry, and a clock that can be pushed forward."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        entry: MockConfigEntry,
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.entry = entry
        self.offset = timedelta(0)
        # A battery on a fixed offset from UTC (it ignores daylight saving); None: it
        # keeps the host's local time (plus ``offset``).
        self.utc_offset: timedelta | None = None
        self.battery: SimulatedBattery | None = None
        # Called with the current time at every step (an unrelated meter, for example).
        self.on_step: Any = None
        self.task: asyncio.Task[None] | None = None
        # The battery's requests not acknowledged yet (see quiet_link), the realtime
        # pushes it has had acknowledged, and a flag raised whenever a request ends.
        self.in_flight = 0
        self.pushes = 0
        self.progress = asyncio.Event()

    @property
    def coordinator(self) -> AlphaEssCoordinator:
        coordinator: AlphaEssCoordinator = self.entry.runtime_data
        return coordinator

    def battery_time(self, moment: datetime) -> datetime:
        """What the battery's clock reads at real time ``moment``."""
        if self.utc_offset is not None:
            return dt_util.as_utc(moment).replace(tzinfo=None) + self.utc_offset
        return dt_util.as_local(moment).replace(tzinfo=None) + self.offset

    def battery_now(self) -> datetime:
        return self.battery_time(dt_util.utcnow()).replace(microsecond=0)

    async def start_battery(self) -> SimulatedBattery:
        model = BatteryModel(self.battery_now() - timedelta(minutes=5), soc=60.0)
        self.battery = SimulatedBattery(
            HOST,
            self.entry.data[CONF_PORT],
            speed=50,
            clock=self.battery_now,
            model=model,
        )
        # The test jumps the clock by minutes; a real battery never sees that.
        self.battery.ack_timeout = 24 * 3600
        request = self.battery._request

        async def counted(command: Command, payload: Any) -> None:
            self.in_flight += 1
            try:
                await request(command, payload)
            finally:
                self.in_flight -= 1
                self.progress.set()
            if command is Command.REALTIME:
                self.pushes += 1

        self.battery._request = counted  # type: ignore[method-assign]
        self.task = asyncio.create_task(self.battery.run())
        await self.settle(
            until=lambda: SERIAL in self.coordinator.server.connected_serials
        )
        return self.battery

    async def next_progress(self) -> None:
        """Wait until one of the battery's requests ends, or a moment passes.

        Most conditions change when the battery hears back; the few that do not (a
        timer of the integration, the battery reconnecting) are looked at every 10 ms.
        """
        self.progress.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.01):
                await self.progress.wait()

    async def settle(self, until: Callable[[], bool] | None = None) -> None:
        """Let pending work finish, and wait for a condition, if given."""
        async with asyncio.timeout(SETTLE):  # bounds a hang only
            await self.hass.async_block_till_done()
            while until is not None and not until():
                await self.next_progress()
        await self.hass.async_block_till_done()

    async def quiet_link(self) -> None:
        """Wait until none of the battery's requests awaits its acknowledgement.

        Only then may the clock jump: a push stamped just before a jump and received
        after it would arrive a minute late, which no real battery's push does, and
        the clock model would rightly ignore it. The server writes the acknowledgement
        and reports the frame, stamped with its time of receipt, in one step of the
        loop, so a push the battery has seen acknowledged was stamped before the jump.
        """
        async with asyncio.timeout(SETTLE):  # bounds a hang only
            while self.in_flight:
                await self.next_progress()

    async def run_for(
        self, duration: timedelta, step: timedelta = timedelta(minutes=1)
    ) -> None:
        """Jump the clock forward step by step; timers and pushes catch up each time.

        While the battery is online, steps stay at one minute: a real battery pushes
        every 10 s, and a longer silence is exactly what triggers a Resume. Each step
        waits for the battery's first push stamped after the jump (the loop's clock
        jumps too, so the battery wakes at once), not for any real time to pass.
        """
        assert self.battery is not None
        end = dt_util.utcnow() + duration
        while dt_util.utcnow() < end:
            await self.quiet_link()
            pushes = self.pushes
            self.freezer.tick(step)  # at once: nothing may be sent in between
            if self.on_step is not None:
                self.on_step(dt_util.utcnow())
            async_fire_time_changed(self.hass)
            if self.battery.online.is_set():
                await self.settle(until=lambda: self.pushes > pushes)  # noqa: B023
            else:
                await self.settle()
        if "recorder" in self.hass.config.components:
            await async_wait_recording_done(self.hass)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def entity_id(self, key: str) -> str:
        found = er.async_get(self.hass).async_get_entity_id(
            "sensor", DOMAIN, f"{SERIAL}_{key}"
        )
        assert found, key
        return found

    async def hourly_changes(
        self, start: datetime, end: datetime
    ) -> dict[str, dict[datetime, float]]:
        """Each total's hourly change from ``start`` to ``end``, as the recorder holds it.

        An import is only queued for the recorder when the backfill counts its hour
        filed; the recorder writes it when it gets to it, later on a busy machine. So
        first wait for the recorder to write everything queued so far.
        """
        await async_wait_recording_done(self.hass)
        ids = {self.entity_id(key): key for key in TRUTH}
        found = await get_instance(self.hass).async_add_executor_job(
            statistics_during_period,
            self.hass,
            start,
            end,
            set(ids),
            "hour",
            None,
            {"change"},
        )
        return {
            ids[statistic_id]: {
                dt_util.utc_from_timestamp(row["start"]): row["change"] or 0.0
                for row in rows
            }
            for statistic_id, rows in found.items()
        }

    def truth(self, hour_start: datetime) -> dict[str, float]:
        """Energy the model really produced in the (real-time) hour ``hour_start``."""
        assert self.battery is not None
        rows = self.battery.model.buffered_rows

        def total_before(moment: datetime, attribute: str) -> float:
            local = self.battery_time(moment)
            before: list[Sample] = [r for r in rows if r.time < local]
            return float(getattr(before[-1].totals, attribute))

        return {
            key: total_before(hour_start + timedelta(hours=1), attr)
            - total_before(hour_start, attr)
            for key, attr in TRUTH.items()
        }


@contextlib.asynccontextmanager
async def running_scenario(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    *,
    morning: bool = True,
) -> AsyncGenerator[Scenario]:
    """The entry set up, and stopped with its battery at the end.

    ``morning``: first move to a sunny morning, so every hour moves energy (the clock
    only jumps forward from there).
    """
    if morning:
        now = dt_util.now()
        freezer.move_to(
            (now + timedelta(days=2)).replace(hour=8, minute=1, second=0, microsecond=0)
        )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = Scenario(hass, freezer, entry)
    try:
        yield result
    finally:
        await result.stop()
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


@pytest.fixture
async def scenario(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> AsyncGenerator[Scenario]:
    async with running_scenario(hass, freezer, config_entry) as result:
        yield result


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def restart(scenario: Scenario) -> None:
    """Home Assistant restarting, as far as the entry can tell: unload, set up again.

    Then wait until the battery is back and its new upload is in: the test's clock
    jumps by minutes, a real upload takes a second.
    """
    hass = scenario.hass
    assert await hass.config_entries.async_unload(scenario.entry.entry_id)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_setup(scenario.entry.entry_id)
    await hass.async_block_till_done()
    await scenario.settle(
        until=lambda: scenario.coordinator.backfill.resumes_answered >= 1
        and not scenario.coordinator.backfill.busy
    )


async def outage_and_check(
    scenario: Scenario,
    outage: timedelta,
    *,
    restart_during_outage: bool = False,
    reconnect: Callable[[Scenario, SimulatedBattery], Awaitable[None]] | None = None,
    online_before: timedelta = timedelta(minutes=65),
) -> dict[str, Any]:
    """Online 1 h, offline for ``outage``, online 1.5 h; compare hours with the truth.

    ``reconnect`` brings the battery back (and may interfere on the way); by default
    it just comes back.
    """
    hass = scenario.hass
    battery = await scenario.start_battery()
    first_hour = hour_of(dt_util.utcnow()) + timedelta(hours=1)
    await scenario.run_for(online_before)
    battery.go_offline()
    gone_at = dt_util.utcnow()
    if restart_during_outage:
        assert await hass.config_entries.async_unload(scenario.entry.entry_id)
        await hass.async_block_till_done()
    await scenario.run_for(outage, step=timedelta(minutes=15))
    if restart_during_outage:
        assert await hass.config_entries.async_setup(scenario.entry.entry_id)
        await hass.async_block_till_done()
    back_at = dt_util.utcnow()
    commands_before = len(battery.commands)
    if reconnect is None:
        battery.go_online()
    else:
        await reconnect(scenario, battery)
    await scenario.settle(
        until=lambda: scenario.coordinator.data[SERIAL].newest_energy_record is not None
        and scenario.coordinator.data[SERIAL].newest_energy_record
        >= scenario.battery_now() - timedelta(minutes=3)
        and not scenario.coordinator.backfill.busy
    )
    await async_wait_recording_done(hass)
    await scenario.run_for(timedelta(minutes=95))
    await async_wait_recording_done(hass)
    # Everything owed was filed (and stays filed across a restart).
    assert scenario.coordinator.data[SERIAL].owed_from is None
    reconnect_hour = hour_of(back_at)
    changes = await scenario.hourly_changes(
        first_hour, reconnect_hour + timedelta(hours=1)
    )
    outage_hours = [
        h
        for h in sorted(changes["pv_energy"])
        if hour_of(gone_at) <= h < reconnect_hour
    ]
    assert len(outage_hours) >= int(outage.total_seconds() // 3600) - 1
    for hour in sorted(changes["pv_energy"]):
        truth = scenario.truth(hour)
        for key, change in ((k, changes[k].get(hour, 0.0)) for k in TRUTH):
            assert change >= -1e-6, (hour, key, change)  # no negative hours
            tolerance = HOURLY_TOLERANCE if hour in outage_hours else 0.6
            assert change == pytest.approx(truth[key], abs=tolerance), (hour, key)
    # Nothing counted twice: every hour together equals what the battery did.
    span_truth = dict.fromkeys(TRUTH, 0.0)
    for hour in changes["pv_energy"]:
        for key, value in scenario.truth(hour).items():
            span_truth[key] += value
    for key in TRUTH:
        assert sum(changes[key].values()) == pytest.approx(span_truth[key], abs=0.3), (
            key
        )
    resume = battery.commands[commands_before]
    assert resume.command == "Resume"
    return {
        "resume": resume,
        "outage_hours": outage_hours,
        "gone_at": gone_at,
        "back_at": back_at,
    }


async def test_three_hour_outage_is_backfilled(scenario: Scenario) -> None:
    result = await outage_and_check(scenario, timedelta(hours=3))
    assert len(result["outage_hours"]) >= 3
    resume = result["resume"]
    start = datetime.strptime(resume.parameters[0], "%Y/%m/%d %H:%M:%S")
    gone_local = dt_util.as_local(result["gone_at"]).replace(tzinfo=None)
    assert gone_local - timedelta(minutes=2) <= start <= gone_local


async def test_big_history_frames_arrive_in_slices_and_file_as_whole_ones(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 rows a frame (~58 KiB): each reaches us in slices (``protocol/server/pacing.py``).

    The hours and totals come out as with three rows a frame; a frame counts once, and
    an upload is judged complete at a frame's last slice only, so its rows all join
    the one requested upload (none starts an unrequested one of its own).
    """
    monkeypatch.setattr(simulated_history, "HISTORY_ROWS_PER_FRAME", 100)
    slices: list[tuple[bool, int]] = []  # (more follows, frames counted so far)
    filed: list[bool] = []  # per filing: whether the upload was the requested one
    received = backfill.HistoryBackfill.rows_received
    start_filing = backfill.HistoryBackfill._start_filing

    def rows_received(
        self: backfill.HistoryBackfill, state: Any, rows: Any, *, more: bool = False
    ) -> None:
        slices.append((more, state.counters["frames"]))
        received(self, state, rows, more=more)

    def filing(self: backfill.HistoryBackfill, state: Any, *, complete: bool) -> None:
        if (upload := self._uploads.get(state.serial)) is not None:
            filed.append(upload.end is not None)
        start_filing(self, state, complete=complete)

    monkeypatch.setattr(backfill.HistoryBackfill, "rows_received", rows_received)
    monkeypatch.setattr(backfill.HistoryBackfill, "_start_filing", filing)
    await outage_and_check(scenario, timedelta(hours=3))
    # Two frames (~195 rows), each sliced: a dozen events or more apiece.
    assert sum(not more for more, _ in slices) == 2
    assert sum(more for more, _ in slices) > 20
    for (more, counted), (next_more, next_counted) in pairwise(slices):
        if more:  # the next call is the same frame's next slice: counted at its last
            assert next_counted == counted + (not next_more), "a slice counted"
    assert filed == [True]


async def test_outage_with_home_assistant_restart(scenario: Scenario) -> None:
    await outage_and_check(scenario, timedelta(hours=3), restart_during_outage=True)


async def test_day_long_outage_recovers_every_minute(scenario: Scenario) -> None:
    result = await outage_and_check(scenario, timedelta(hours=24))
    assert len(result["outage_hours"]) >= 24
    resume = result["resume"]
    start = datetime.strptime(resume.parameters[0], "%Y/%m/%d %H:%M:%S")
    gone_local = dt_util.as_local(result["gone_at"]).replace(tzinfo=None)
    back_local = dt_util.as_local(result["back_at"]).replace(tzinfo=None)
    assert gone_local - timedelta(minutes=2) <= start <= gone_local
    offline_minutes = (back_local - start).total_seconds() / 60
    assert offline_minutes <= int(resume.parameters[1]) <= offline_minutes + 3
    assert scenario.coordinator.backfill.rows_filed >= 24 * 60


async def test_clock_offset_raises_issue_and_rows_land_in_the_right_hours(
    scenario: Scenario,
) -> None:
    scenario.offset = timedelta(minutes=10)
    await outage_and_check(scenario, timedelta(hours=2))
    issue = ir.async_get(scenario.hass).async_get_issue(
        DOMAIN, f"clock_offset_{SERIAL}"
    )
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["serial"] == "AL90*********42"
    # A push sent just before one of the test's one-minute clock jumps reads 9.
    assert issue.translation_placeholders["minutes"] in {"+9", "+10"}


def resumes(battery: SimulatedBattery) -> list[ServerCommand]:
    return [c for c in battery.commands if c.command == "Resume"]


async def test_upload_cut_by_a_restart_is_asked_for_again(scenario: Scenario) -> None:
    """Home Assistant restarts while the battery uploads: the outage is not lost."""

    async def reconnect(scenario: Scenario, battery: SimulatedBattery) -> None:
        battery.upload_limit = 20  # 60 of the ~195 minutes, then the upload stalls
        battery.go_online()
        backfill = scenario.coordinator.backfill
        await scenario.settle(until=lambda: backfill.rows_arrived(SERIAL) >= 60)
        battery.upload_limit = None
        await restart(scenario)

    result = await outage_and_check(scenario, timedelta(hours=3), reconnect=reconnect)
    assert len(result["outage_hours"]) >= 3
    assert scenario.battery is not None
    first, again = resumes(scenario.battery)[-2:]
    assert again.parameters[0] == first.parameters[0]  # from the oldest unfiled minute


async def test_unanswered_resume_is_asked_again_on_reconnection(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backfill, "RESUME_TIMEOUT", 0.3)

    async def reconnect(scenario: Scenario, battery: SimulatedBattery) -> None:
        battery.ignore_commands = {"Resume"}
        battery.go_online()
        backfill_ = scenario.coordinator.backfill
        await scenario.settle(until=lambda: backfill_.resumes_failed == 1)
        # Asked once per connection: the battery reconnects, and is asked again.
        monkeypatch.setattr(backfill, "RESUME_TIMEOUT", 30.0)
        battery.ignore_commands = set()
        battery.drop()
        await scenario.settle(until=lambda: backfill_.resumes_answered == 1)

    result = await outage_and_check(scenario, timedelta(hours=3), reconnect=reconnect)
    assert len(result["outage_hours"]) >= 3
    assert scenario.battery is not None
    assert len(resumes(scenario.battery)) >= 2


async def test_restart_between_two_sensors_imports(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = backfill.async_import_hours
    calls: list[str] = []
    stuck = asyncio.Event()

    async def import_then_stall(
        hass: HomeAssistant, entity_id: str, ends: list[tuple[datetime, float]]
    ) -> bool:
        calls.append(entity_id)
        if len(calls) == 4:
            await stuck.wait()  # Home Assistant stops while this sensor is imported
        return await real(hass, entity_id, ends)

    monkeypatch.setattr(backfill, "async_import_hours", import_then_stall)

    async def reconnect(scenario: Scenario, battery: SimulatedBattery) -> None:
        battery.go_online()
        await scenario.settle(until=lambda: len(calls) >= 4)
        await restart(scenario)

    result = await outage_and_check(scenario, timedelta(hours=3), reconnect=reconnect)
    assert len(result["outage_hours"]) >= 3
    assert scenario.battery is not None
    assert len(resumes(scenario.battery)) >= 2
    assert len(set(calls)) >= 5


async def test_import_never_collides_with_the_recorder(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short outage ends two seconds into a new hour, its upload complete at once.

    The recorder compiles the hour that just ended (and its last five minutes) at
    :00:10, for every sensor, with plain inserts. Our sensors have rows in that hour
    (they were live in its first part), so an import of it landing first would make
    the compile fail and lose the hour for every sensor, such as this unrelated meter.

    The clock ticks with real time, so on a slow machine the compile could come before
    the upload is in and the collision would not be tried: that compile is held until
    the upload has been received, whatever the machine's speed.
    """
    hass = scenario.hass
    meter = "sensor.unrelated_meter"
    attributes = {
        "state_class": "total_increasing",
        "device_class": "energy",
        "unit_of_measurement": "kWh",
    }
    readings = iter(range(1, 100_000))

    def step(_now: datetime) -> None:
        hass.states.async_set(meter, str(next(readings) / 10), attributes)

    step(dt_util.utcnow())
    scenario.on_step = step
    battery = await scenario.start_battery()
    hour = hour_of(dt_util.utcnow()) + timedelta(hours=1)
    upload_in = threading.Event()
    compiled_after_rows: list[int] = []
    real_run = recorder_tasks.StatisticsTask.run

    def compile_after_the_upload(
        task: recorder_tasks.StatisticsTask, instance: Recorder
    ) -> None:
        if task.start == hour + timedelta(minutes=55):
            upload_in.wait(timeout=60)  # only bounds a hang
            compiled_after_rows.append(scenario.coordinator.backfill.rows_filed)
        real_run(task, instance)

    monkeypatch.setattr(recorder_tasks.StatisticsTask, "run", compile_after_the_upload)
    await scenario.run_for(hour + timedelta(minutes=40) - dt_util.utcnow())
    battery.go_offline()
    await scenario.run_for(timedelta(minutes=19))
    scenario.freezer.move_to(hour + timedelta(hours=1, seconds=2))
    async_fire_time_changed(hass)
    backfill_ = scenario.coordinator.backfill
    battery.go_online()
    try:
        await scenario.settle(until=lambda: backfill_.rows_filed > 0)
    finally:
        upload_in.set()
    await scenario.settle(until=lambda: not backfill_.busy)
    await scenario.run_for(timedelta(minutes=15))
    # The hour was compiled once, after the upload was in.
    assert len(compiled_after_rows) == 1
    assert compiled_after_rows[0] > 0
    state = scenario.coordinator.data[SERIAL]
    await scenario.settle(until=lambda: state.filed_until.get("pv", hour) > hour)
    await async_wait_recording_done(hass)

    instance = get_instance(hass)
    ours = scenario.entity_id("pv_energy")
    for period, start in (
        ("hour", hour),
        ("5minute", hour + timedelta(minutes=55)),
    ):
        found = await instance.async_add_executor_job(
            statistics_during_period,
            hass,
            start,
            start + timedelta(minutes=1),
            {meter, ours},
            period,
            None,
            {"state"},
        )
        assert [r["start"] for r in found.get(meter, [])] == [start.timestamp()], period
    # And our hour holds the battery's energy, written after the recorder's compile.
    changes = await scenario.hourly_changes(hour, hour + timedelta(hours=1))
    for key, truth in scenario.truth(hour).items():
        assert changes[key][hour] == pytest.approx(truth, abs=HOURLY_TOLERANCE), key


async def test_outage_across_the_change_to_winter_time(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
) -> None:
    """Berlin, last Sunday of October: 03:00 summer time becomes 02:00 winter time.

    The battery ignores daylight saving (its clock stays on summer time); every hour
    of an outage across the change must still hold the battery's own energy.
    """
    await hass.config.async_set_time_zone("Europe/Berlin")
    freezer.move_to(datetime(2027, 10, 30, 23, 1, tzinfo=UTC))  # 01:01 summer time
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    scenario = Scenario(hass, freezer, config_entry)
    scenario.utc_offset = timedelta(hours=2)
    try:
        result = await outage_and_check(scenario, timedelta(hours=3))
        change = datetime(2027, 10, 31, 1, 0, tzinfo=UTC)
        assert result["gone_at"] < change < result["back_at"]
        assert len(result["outage_hours"]) >= 3
    finally:
        await scenario.stop()
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()
