"""The per-battery rules on their own: the clock model, live order, energy totals."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
import json
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.util import dt as dt_util
from hypothesis import given, strategies as st
import pytest

from custom_components.alphaess_local.battery import BatteryState
from custom_components.alphaess_local.battery.clock import (
    CLOCK_TOLERANCE,
    BatteryClock,
    ClockVerdict,
)
from custom_components.alphaess_local.battery.totals import DEFAULT_MAX_POWER_KW
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    EventLogEntry,
    RealtimeRecord,
    SystemReport,
)
from custom_components.alphaess_local.protocol.codec.messages import build_record
from tests.conftest import warnings_logged

from .conftest import SERIAL

START = datetime(2026, 3, 24, 9, 0, tzinfo=UTC)
# The battery's clock in these tests: UTC + 1 h (winter time in Berlin), 2 s fast.
SKEW = timedelta(hours=1, seconds=2)
STAMP = "%Y/%m/%d %H:%M:%S"


def battery_time(received: datetime, skew: timedelta = SKEW) -> datetime:
    """What an honest battery stamps on a record sent at ``received``."""
    return (received.replace(tzinfo=None) + skew).replace(microsecond=0)


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def realtime(time: datetime, soc: float) -> RealtimeRecord:
    return build_record(RealtimeRecord, {"Time": time.strftime(STAMP), "SOC": str(soc)})


def detail(time: datetime, **totals: float) -> DetailedRecord:
    keys = {"pv": "EpvTotal", "grid_import": "Einput", "battery_charge": "Echarge"}
    payload = {"Time": time.strftime(STAMP)}
    payload |= {keys[key]: str(value) for key, value in totals.items()}
    return build_record(DetailedRecord, payload)


def push(state: BatteryState, received: datetime, soc: float, **kw: object) -> bool:
    """A realtime record as the coordinator handles it: clock first, then state."""
    time = kw.get("time") or battery_time(received)
    assert isinstance(time, datetime)
    state.last_seen = received
    if state.admit(time, received) is ClockVerdict.IGNORED:
        return False
    return state.apply_realtime(realtime(time, soc), received)


def trusted_state() -> BatteryState:
    state = BatteryState(SERIAL)
    push(state, at(0), 40.0)
    push(state, at(10), 41.0)
    assert state.clock.trusted
    return state


# --- the clock ------------------------------------------------------------------------


def test_first_record_sets_the_estimate_and_a_spaced_second_trusts_it() -> None:
    clock = BatteryClock()
    assert clock.judge(battery_time(at(0)), at(0)) is ClockVerdict.FITS
    assert clock.offset is not None
    assert abs(clock.offset - SKEW) <= timedelta(seconds=1)
    assert not clock.trusted
    # Received together (a burst, a replay): nothing to confirm the clock with.
    assert clock.judge(battery_time(at(0.1)), at(0.1)) is ClockVerdict.FITS
    assert not clock.trusted
    assert clock.judge(battery_time(at(10)), at(10)) is ClockVerdict.SETTLED
    assert clock.trusted
    assert clock.judge(battery_time(at(20)), at(20)) is ClockVerdict.FITS


def test_untrusted_clock_uses_every_record_as_before() -> None:
    clock = BatteryClock()
    clock.judge(battery_time(at(0)), at(0))
    assert clock.judge(datetime(2099, 1, 1), at(0.1)) is ClockVerdict.FITS


def test_lone_2099_record_is_ignored_and_changes_nothing() -> None:
    clock = BatteryClock()
    clock.judge(battery_time(at(0)), at(0))
    clock.judge(battery_time(at(10)), at(10))
    estimate = clock.offset
    assert clock.judge(datetime(2099, 1, 1), at(15)) is ClockVerdict.IGNORED
    assert clock.offset == estimate
    assert clock.judge(battery_time(at(20)), at(20)) is ClockVerdict.FITS
    # A second 2099 record later does not pair with the first: an honest one came in
    # between.
    assert clock.judge(datetime(2099, 1, 1, 0, 0, 20), at(25)) is ClockVerdict.IGNORED


@pytest.mark.parametrize(
    "step",
    [timedelta(seconds=-80), timedelta(hours=-3), timedelta(hours=1)],
    ids=["back-80s", "back-3h", "forward-1h"],
)
def test_clock_set_on_the_battery_is_followed_from_its_second_record(
    step: timedelta,
) -> None:
    clock = BatteryClock()
    clock.judge(battery_time(at(0)), at(0))
    clock.judge(battery_time(at(10)), at(10))
    assert clock.judge(battery_time(at(20), SKEW + step), at(20)) is (
        ClockVerdict.IGNORED
    )
    assert clock.judge(battery_time(at(30), SKEW + step), at(30)) is (
        ClockVerdict.STEPPED
    )
    assert abs(clock.step - step) <= timedelta(seconds=2)
    assert clock.judge(battery_time(at(40), SKEW + step), at(40)) is ClockVerdict.FITS


def test_late_burst_is_not_a_clock_change() -> None:
    clock = BatteryClock()
    clock.judge(battery_time(at(0)), at(0))
    clock.judge(battery_time(at(10)), at(10))
    # Pushes from 60, 50 and 40 s ago, read from one segment.
    for late in (60, 50, 40):
        verdict = clock.judge(battery_time(at(100 - late)), at(100))
        assert verdict is ClockVerdict.IGNORED
    assert clock.judge(battery_time(at(110)), at(110)) is ClockVerdict.FITS
    assert clock.offset is not None
    assert abs(clock.offset - SKEW) <= timedelta(seconds=2)


def test_estimate_follows_slow_drift() -> None:
    clock = BatteryClock()
    # One second fast more every minute, for ten hours: far past the tolerance.
    for n in range(3600):
        received = at(10 * n)
        skew = SKEW + timedelta(seconds=n // 6)
        assert clock.judge(battery_time(received, skew), received) in {
            ClockVerdict.FITS,
            ClockVerdict.SETTLED,
        }
    assert clock.offset is not None
    assert abs(clock.offset - (SKEW + timedelta(seconds=599))) <= timedelta(seconds=10)


@given(
    forged=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=60),  # after which honest record
            st.integers(min_value=-(10**9), max_value=10**9),  # seconds off
        ),
        max_size=20,
    )
)
def test_lone_forged_records_never_move_the_clock(
    forged: list[tuple[int, int]],
) -> None:
    """Forged stamps, one at a time between honest records, never win the clock."""
    clock = BatteryClock()
    after = dict(forged)
    for n in range(62):
        received = at(10 * n)
        verdict = clock.judge(battery_time(received), received)
        assert verdict is not ClockVerdict.IGNORED
        assert verdict is not ClockVerdict.STEPPED
        if n in after:
            off = timedelta(seconds=after[n])
            sent = received + timedelta(seconds=5)
            verdict = clock.judge(battery_time(sent) + off, sent)
            if abs(off) > 2 * CLOCK_TOLERANCE:
                assert verdict is ClockVerdict.IGNORED
    assert clock.offset is not None
    assert abs(clock.offset - SKEW) <= CLOCK_TOLERANCE


# --- live records ---------------------------------------------------------------------


def test_resent_record_is_skipped_and_the_newer_wins() -> None:
    state = trusted_state()
    first = battery_time(at(0))
    assert not push(state, at(12), 30.0, time=first)  # resent, different values
    assert state.realtime is not None
    assert state.realtime.soc == 41.0


def test_late_record_does_not_replace_a_newer_one() -> None:
    state = trusted_state()
    # Taken at 5 s, arrives at 14 s: fits the clock, but the one shown is newer.
    assert not push(state, at(14), 30.0, time=battery_time(at(5)))
    assert state.realtime is not None
    assert state.realtime.soc == 41.0


def test_early_stamp_holds_nothing_back() -> None:
    state = trusted_state()
    early = battery_time(at(15)) + timedelta(seconds=25)  # fits, but 25 s ahead
    assert push(state, at(15), 60.0, time=early)
    # The next honest push is older by the battery's clock, yet fits it better.
    assert push(state, at(20), 42.0)
    assert state.realtime is not None
    assert state.realtime.soc == 42.0
    # The early timestamp sent again (new values) is a resend: skipped.
    assert not push(state, at(22), 30.0, time=early)
    assert state.realtime.soc == 42.0


def test_clock_step_moves_the_watermarks_with_it() -> None:
    state = trusted_state()
    state.newest_record = battery_time(at(10))
    state.newest_energy_record = battery_time(at(5))
    step = timedelta(hours=-3)
    assert not push(state, at(20), 50.0, time=battery_time(at(20), SKEW + step))
    assert push(state, at(30), 51.0, time=battery_time(at(30), SKEW + step))
    assert state.newest_record == battery_time(at(10)) + state.clock.step
    assert state.newest_energy_record == battery_time(at(5)) + state.clock.step
    assert abs(state.clock.step - step) <= timedelta(seconds=1)


def test_trusting_the_clock_pulls_back_watermarks_ahead_of_it() -> None:
    state = BatteryState(SERIAL)
    push(state, at(0), 40.0)
    # Before the clock is trusted, a 2099 record is used as records always were.
    push(state, at(1), 99.0, time=datetime(2099, 1, 1))
    state.newest_record = datetime(2099, 1, 1)
    assert push(state, at(10), 41.0)  # fits the first record better than 2099 does
    assert state.clock.trusted
    assert state.newest_record == battery_time(at(10)) + CLOCK_TOLERANCE


def test_events_stamped_after_the_clock_are_ignored() -> None:
    state = trusted_state()
    entries = (
        EventLogEntry(datetime(2099, 1, 1), 41),
        EventLogEntry(battery_time(at(5)), 42),
    )
    assert state.apply_events(entries) == 1
    assert state.newest_event == battery_time(at(5))


# --- lifetime energy ------------------------------------------------------------------


def offer(state: BatteryState, received: datetime, **totals: float) -> bool:
    state.last_seen = received
    time = battery_time(received)
    assert state.admit(time, received) is not ClockVerdict.IGNORED
    return state.apply_detail(detail(time, **totals), received)


def test_implausible_total_is_held_and_dropped_when_honest_records_go_on() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0, battery_charge=143.9)
    offer(state, at(320), pv=1e12, battery_charge=144.0)
    assert state.energy == {"pv": 433.0, "battery_charge": 144.0}
    offer(state, at(620), pv=433.4)
    assert state.energy["pv"] == 433.4
    # Gone for good: values carrying on from 1e12 now start a new hold.
    offer(state, at(920), pv=1e12 + 1)
    assert state.energy["pv"] == 433.4


def test_dropping_total_is_never_shown() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    offer(state, at(320), pv=432.0)
    assert state.energy["pv"] == 433.0


def test_held_total_is_accepted_once_confirmed_over_ten_minutes() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    offer(state, at(80), pv=450.0)  # 17 kWh in a minute
    offer(state, at(320), pv=450.2)
    offer(state, at(620), pv=450.4)  # three records, but only 9 minutes
    assert state.energy["pv"] == 433.0
    offer(state, at(920), pv=450.6)
    assert state.energy["pv"] == 450.6


def test_held_total_needs_records_that_carry_on_from_it() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    offer(state, at(80), pv=450.0)
    offer(state, at(320), pv=460.0)  # neither from 433 nor from 450: a new hold
    offer(state, at(620), pv=460.1)
    offer(state, at(920), pv=460.2)
    assert state.energy["pv"] == 433.0
    offer(state, at(980), pv=460.3)
    assert state.energy["pv"] == 460.3


def test_rise_allowed_grows_with_time_away() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    # Three hours later, 40 kWh more is within 50 kW: accepted at once.
    offer(state, at(20 + 3 * 3600), pv=473.0)
    assert state.energy["pv"] == 473.0


def test_max_power_comes_from_the_report_but_never_exceeds_the_default() -> None:
    state = BatteryState(SERIAL)
    assert state.max_power_kw == DEFAULT_MAX_POWER_KW
    state.report = build_record(SystemReport, {"Popv": "9.2", "Poinv": "4.6"})
    assert state.max_power_kw == pytest.approx(27.6)
    state.report = build_record(SystemReport, {"Popv": "1e9"})
    assert state.max_power_kw == DEFAULT_MAX_POWER_KW


def test_history_rows_are_judged_on_the_battery_clock() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    # Rows an hour later by the battery's clock may carry an hour's energy.
    row = detail(battery_time(at(3620)), pv=470.0)
    state.last_seen = at(3700)
    assert state.apply_history_row(row)
    assert state.energy["pv"] == 470.0
    # A row from beyond the clock's present is not credible, whatever it says.
    assert not state.apply_history_row(detail(datetime(2099, 1, 1), pv=1e12))
    assert state.newest_energy_record == battery_time(at(3620))
    assert state.energy["pv"] == 470.0


def test_warnings_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    for n in range(3):
        base = 1000 * (n + 1)
        push(state, at(base), 99.0, time=datetime(2099, 1, 1, 0, n))
        push(state, at(base + 10), 42.0)
        offer(state, at(base + 20), pv=1e12)
        offer(state, at(base + 30), pv=433.0)
    warnings = warnings_logged(caplog)
    assert len(warnings) == 2
    assert all("AL90*********42" in r.getMessage() for r in warnings)
    assert SERIAL not in caplog.text
    assert state.counters["clock_ignored"] == 3
    assert state.counters["energy_held"] == 3


# --- what survives a restart ----------------------------------------------------------


def test_store_round_trip_keeps_times_of_totals_and_the_trusted_clock() -> None:
    state = trusted_state()
    offer(state, at(20), pv=433.0)
    restored = BatteryState(SERIAL)
    restored.restore(json.loads(json.dumps(state.to_store())))
    assert restored.energy == {"pv": 433.0}
    assert restored.energy_at == {"pv": at(20)}
    assert restored.clock.trusted
    assert restored.clock.offset == state.clock.offset
    # The time of the total bounds the rise after the restart, too.
    restored.last_seen = at(80)
    restored.admit(battery_time(at(80)), at(80))
    restored.apply_detail(detail(battery_time(at(80)), pv=1e12), at(80))
    assert restored.energy["pv"] == 433.0


def test_store_from_before_times_were_kept_still_restores() -> None:
    state = BatteryState(SERIAL)
    state.restore(
        {
            "newest_event": None,
            "newest_record": "2026-01-05T09:30:00",
            "newest_energy_record": None,
            "energy": {"pv": 433.0},
        }
    )
    assert state.energy == {"pv": 433.0}
    assert state.energy_at == {}
    assert state.clock.offset is None
    assert state.newest_record == datetime(2026, 1, 5, 9, 30)


def test_untrusted_clock_is_not_stored() -> None:
    state = BatteryState(SERIAL)
    push(state, at(0), 40.0)
    assert "clock_offset" not in state.to_store()


# --- local time -----------------------------------------------------------------------


@pytest.fixture
def berlin() -> Generator[None]:
    before = dt_util.get_default_time_zone()
    dt_util.set_default_time_zone(ZoneInfo("Europe/Berlin"))
    yield
    dt_util.set_default_time_zone(before)


@pytest.mark.usefixtures("berlin")
def test_clock_offset_is_shown_against_local_time(
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(at(20))
    state = trusted_state()  # a battery on Berlin winter time, 2 s fast
    assert state.clock_offset is not None
    assert abs(state.clock_offset - timedelta(seconds=2)) <= timedelta(seconds=1)
    # Summer time starts; the battery's clock does not follow, its offset from UTC
    # stays, and against local time it is now an hour slow.
    freezer.move_to(datetime(2026, 4, 1, 9, 0, tzinfo=UTC))
    assert abs(state.utc_offset - SKEW) <= timedelta(seconds=1)
    assert abs(state.clock_offset - timedelta(hours=-1, seconds=2)) <= timedelta(
        seconds=1
    )
