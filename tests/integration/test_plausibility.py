"""Nothing a peer sends can move state that a later honest record cannot correct.

A battery on loopback TCP sends records stamped by its own clock while the test moves
Home Assistant's clock (frozen, ticking) between them, as the real battery's pushes
are spaced. Then forged timestamps and totals are slipped in between honest records.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local.battery import BatteryState
from custom_components.alphaess_local.const import DOMAIN

from .conftest import SERIAL, RecordedBattery
from .repair_text import issue_text
from .test_sensor import value

pytestmark = pytest.mark.freeze_time(tick=True)

STAMP = "%Y/%m/%d %H:%M:%S"
FAR_FUTURE = datetime(2099, 1, 1, 12, 0)
KEEP_ALIVE = timedelta(minutes=1)


class Battery:
    """A battery whose clock runs with Home Assistant's, ``skew`` off local time."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: MockConfigEntry,
        freezer: FrozenDateTimeFactory,
        client: RecordedBattery,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.freezer = freezer
        self.client = client
        self.skew = timedelta(0)
        self.stamps: list[datetime] = []  # of the realtime records sent

    @property
    def state(self) -> BatteryState:
        state: BatteryState = self.entry.runtime_data.data[SERIAL]
        return state

    def now(self) -> datetime:
        local = dt_util.now().replace(tzinfo=None, microsecond=0)
        return local + self.skew

    async def hello(self) -> None:
        session = self.client.session
        await self.client.request(
            2, {"UserName": SERIAL, "Password": "pw", "CompanyName": "AlphaESS"}
        )
        await self.client.request(4, session["system_report_raw"])

    async def realtime(
        self,
        soc: float,
        *,
        stamp: datetime | None = None,
        after: timedelta = timedelta(seconds=10),
    ) -> datetime:
        """Wait ``after``, then push a realtime record stamped now (or ``stamp``)."""
        self.freezer.tick(after)
        time = stamp or self.now()
        record = dict(
            self.client.session["realtime"][1], Time=time.strftime(STAMP), SOC=str(soc)
        )
        await self.client.request(16, record)
        await self.hass.async_block_till_done()
        self.stamps.append(time)
        return time

    async def detail(
        self,
        pv: float,
        *,
        stamp: datetime | None = None,
        after: timedelta = timedelta(minutes=5),
    ) -> None:
        """Push a detailed record with this PV total ``after`` from now.

        Realtime pushes keep coming every minute meanwhile, as they do: the link
        stays up and no gap asks for history.
        """
        while after > KEEP_ALIVE:
            await self.realtime(50.0, after=KEEP_ALIVE)
            after -= KEEP_ALIVE
        self.freezer.tick(after)
        record = dict(
            self.client.session["detail"],
            Time=(stamp or self.now()).strftime(STAMP),
            EpvTotal=str(pv),
        )
        await self.client.request(5, record)
        await self.hass.async_block_till_done()

    def resumes(self) -> int:
        """Resume commands sent, counted on the wire and by the backfill."""
        sent = sum(1 for frame in self.client.received if frame.header == (1, 1, 8))
        assert sent == self.entry.runtime_data.backfill.resumes_sent
        return sent


@pytest.fixture
async def honest(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    battery: Callable[[], Any],
) -> Battery:
    """A battery that has been heard for a while: its clock is known and trusted."""
    result = Battery(hass, loaded_entry, freezer, await battery())
    await result.hello()
    await result.detail(433.0, after=timedelta(0))
    for soc in (40.0, 41.0):
        await result.realtime(soc)
    return result


def soc(hass: HomeAssistant) -> float:
    return float(value(hass, "state_of_charge"))


async def test_record_stamped_2099_is_ignored(
    hass: HomeAssistant, honest: Battery, caplog: pytest.LogCaptureFixture
) -> None:
    await honest.realtime(99.0, stamp=FAR_FUTURE)
    assert soc(hass) == 41.0
    await honest.realtime(42.0)
    assert soc(hass) == 42.0
    last = await honest.realtime(43.0)
    assert soc(hass) == 43.0
    assert honest.state.newest_record == last
    assert honest.resumes() == 0
    assert caplog.text.count("away from its clock") == 1
    assert "AL90*********42" in caplog.text
    assert SERIAL not in caplog.text


async def test_confirmed_2099_clock_is_corrected_by_honest_records(
    hass: HomeAssistant, honest: Battery
) -> None:
    # Two forged records ten seconds apart look just like a clock set to 2099.
    await honest.realtime(98.0, stamp=FAR_FUTURE)
    await honest.realtime(99.0, stamp=FAR_FUTURE + timedelta(seconds=10))
    assert soc(hass) == 99.0
    # The honest battery's next two records show its clock is where it was.
    await honest.realtime(42.0)
    await honest.realtime(43.0)
    assert soc(hass) == 43.0
    last = await honest.realtime(44.0)
    assert soc(hass) == 44.0
    assert honest.state.newest_record == last
    assert honest.resumes() == 0


@pytest.mark.parametrize(
    "step",
    [timedelta(seconds=-80), timedelta(hours=-3), timedelta(hours=1)],
    ids=["back-80s", "back-3h-power-cut", "forward-1h"],
)
async def test_clock_set_on_the_battery_keeps_sensors_updating(
    hass: HomeAssistant, honest: Battery, step: timedelta
) -> None:
    honest.skew += step
    await honest.realtime(50.0)
    await honest.realtime(51.0)
    assert soc(hass) == 51.0
    last = await honest.realtime(52.0)
    assert soc(hass) == 52.0
    # The battery was online throughout: no gap, no Resume, and the watermark is in
    # the clock's new frame.
    assert honest.resumes() == 0
    assert honest.state.newest_record == last
    assert float(value(hass, "clock_offset")) == pytest.approx(
        step.total_seconds(), abs=2
    )


async def test_gap_after_a_clock_step_is_still_backfilled(
    hass: HomeAssistant,
    honest: Battery,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    honest.skew -= timedelta(hours=3)
    await honest.realtime(50.0)
    await honest.realtime(51.0)
    await honest.client.close()
    # Half an hour away: on return the gap is seen in the clock's new frame.
    honest.freezer.tick(timedelta(minutes=30))
    back = Battery(hass, loaded_entry, honest.freezer, await battery())
    back.skew = honest.skew
    await back.realtime(52.0, after=timedelta(0))
    frames = await back.client.frames(2)
    assert frames[1].header == (1, 1, 8)
    assert b"Resume" in frames[1].payload
    assert back.resumes() == 1


async def test_resent_records_are_skipped_and_early_stamps_hold_nothing_back(
    hass: HomeAssistant, honest: Battery
) -> None:
    first = honest.stamps[0]  # the 40 % record
    await honest.realtime(30.0, stamp=first, after=timedelta(seconds=2))
    assert soc(hass) == 41.0
    # Stamped 25 s ahead: it fits the clock and is shown, being the newest.
    early = honest.now() + timedelta(seconds=25)
    await honest.realtime(60.0, stamp=early, after=timedelta(seconds=3))
    assert soc(hass) == 60.0
    # The next honest record is older by the battery's clock, and still wins.
    current = await honest.realtime(42.0, after=timedelta(seconds=5))
    assert soc(hass) == 42.0
    # Both sent again with other values: resends, skipped.
    await honest.realtime(31.0, stamp=early, after=timedelta(seconds=2))
    await honest.realtime(32.0, stamp=current, after=timedelta(seconds=1))
    assert soc(hass) == 42.0
    await honest.realtime(43.0)
    assert soc(hass) == 43.0


async def test_absurd_energy_total_never_reaches_the_sensor(
    hass: HomeAssistant,
    honest: Battery,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await honest.detail(433.4)
    await honest.detail(1e12)
    assert float(value(hass, "pv_energy")) == 433.4
    await honest.detail(433.8)
    assert float(value(hass, "pv_energy")) == 433.8
    await honest.detail(433.5)  # a drop is never shown either
    assert float(value(hass, "pv_energy")) == 433.8
    assert caplog.text.count("more than the system can have produced") == 1

    # What is stored is the honest total, with its time: still right after a reload.
    await honest.client.close()
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert honest.state.energy["pv"] == 433.8
    again = Battery(hass, loaded_entry, honest.freezer, await battery())
    await again.hello()
    await hass.async_block_till_done()
    assert float(value(hass, "pv_energy")) == 433.8
    await again.detail(1e12, after=timedelta(minutes=1))
    assert float(value(hass, "pv_energy")) == 433.8
    await again.detail(434.2)
    assert float(value(hass, "pv_energy")) == 434.2


async def test_steep_rise_is_accepted_once_later_records_confirm_it(
    hass: HomeAssistant, honest: Battery
) -> None:
    # 17 kWh in a minute is beyond a 9.2 kW array and 4.6 kW inverter...
    await honest.detail(450.0, after=timedelta(minutes=1))
    assert float(value(hass, "pv_energy")) == 433.0
    await honest.detail(450.2)
    await honest.detail(450.4)
    assert float(value(hass, "pv_energy")) == 433.0
    # ...but three records over ten minutes carry on from it: it was real.
    await honest.detail(450.6)
    assert float(value(hass, "pv_energy")) == 450.6


async def test_clock_repair_issue_follows_the_offset(
    hass: HomeAssistant, honest: Battery
) -> None:
    issues = ir.async_get(hass)
    issue_id = f"clock_offset_{SERIAL}"
    honest.skew += timedelta(minutes=10)
    await honest.realtime(50.0)
    await honest.realtime(51.0)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {
        "minutes": "+10",
        "serial": "AL90*********42",
    }
    assert issue.translation_key == "clock_offset"
    # Set once more (say, by hand at the display): the issue states the new figure.
    honest.skew += timedelta(minutes=10)
    await honest.realtime(52.0)
    await honest.realtime(53.0)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["minutes"] == "+20"
    honest.skew = timedelta(0)
    await honest.realtime(54.0)
    await honest.realtime(55.0)
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_clock_repair_tells_a_time_zone_from_drift(
    hass: HomeAssistant, honest: Battery, snapshot: SnapshotAssertion
) -> None:
    """A whole hour off is a time zone or daylight saving, and is fixed differently."""
    issues = ir.async_get(hass)
    issue_id = f"clock_offset_{SERIAL}"

    async def shown() -> ir.IssueEntry:
        await honest.realtime(50.0)
        await honest.realtime(51.0)
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        return issue

    # Daylight saving began and the battery did not follow (a minute of drift too).
    honest.skew = -timedelta(hours=1, minutes=1)
    zone = await shown()
    assert zone.translation_key == "clock_offset_zone"
    assert zone.translation_placeholders is not None
    assert zone.translation_placeholders["hours"] == "-1"
    # The owner ignores it; then the clock is set, but by hand and 40 minutes off:
    # that is drift, a new story, shown again even though the last one was ignored.
    issues.async_ignore(DOMAIN, issue_id, True)
    honest.skew = -timedelta(minutes=40)
    drift = await shown()
    assert drift.translation_key == "clock_offset"
    assert drift.dismissed_version is None
    texts = {
        "time zone": issue_text("clock_offset_zone", zone.translation_placeholders),
        "drift": issue_text("clock_offset", drift.translation_placeholders),
    }
    assert texts == snapshot.use_extension(HomeAssistantSnapshotExtension)

    # Across the border by less than the minute that refreshes the figure: the kind
    # changes all the same (5 minutes from a whole hour is the border).
    honest.skew = timedelta(hours=2, minutes=5, seconds=30)
    assert (await shown()).translation_key == "clock_offset"
    honest.skew = timedelta(hours=2, minutes=4, seconds=40)
    issue = await shown()
    assert issue.translation_key == "clock_offset_zone"
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["hours"] == "+2"
