"""The Modbus register map: words in, the cloud's records out, same units and signs.

The strongest check compares a Modbus poll with what the simulated battery tells the
cloud for the same moment (simulator/readings.py, through the real frame decoder):
the same fields, the same values within the wire's rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
import copy
from dataclasses import fields
from datetime import UTC, datetime, timedelta
import functools
import logging
import math
from typing import Final

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.alphaess_local.protocol import (
    GRID_CHARGING,
    SETTINGS,
    Command,
    DetailedRecord,
    Frame,
    Kind,
    PackedCell,
    RealtimeRecord,
    SettingKind,
    SystemReport,
    decode_message,
    minute_key,
)
from custom_components.alphaess_local.protocol.codec.replies import encode_json
from custom_components.alphaess_local.protocol.modbus import registers as reg
from custom_components.alphaess_local.protocol.modbus.registers import (
    DOCUMENTED,
    IDENTITY_BLOCKS,
    LIVE_BLOCKS,
    MEASURED,
    SETTINGS_BLOCKS,
    RegisterMap,
    Scales,
    encode_identity,
    encode_live,
    encode_settings,
    read_clock,
    read_serial,
    setting_writes,
)
from custom_components.alphaess_local.protocol.simulator.model import (
    BatteryModel,
    Sample,
    Totals,
)
from custom_components.alphaess_local.protocol.simulator.readings import (
    Identity,
    detailed_record,
    realtime_values,
    system_report,
)

SERIAL = "AL9002021030042"
NOON = datetime(2026, 6, 1, 11, 0)
# Enough midday polls (10 s apart) for every disputed scale: the PV total must move.
WARM_POLLS = 30
MAX_POLLS = 360  # an hour
VARIANTS = {"documented": DOCUMENTED, "measured": MEASURED}
# Disputed scales that differ between the two variants the sources describe, plus the
# current's sign, which the map checks too.
DECIDED = ("grid_voltage", "cell_voltage", "inverter_temperature", "pv_energy")
MIXED = Scales(
    grid_voltage=0.1, cell_voltage=0.001, inverter_temperature=0.01, pv_energy=0.1
)
REVERSED_CURRENT = Scales(battery_current=-0.1)


def poll(
    register_map: RegisterMap, model: BatteryModel, scales: Scales, polls: int
) -> None:
    """``polls`` polls of a simulated inverter, 10 s apart, as the reader makes them."""
    for _ in range(polls):
        model.advance_to(model.now + timedelta(seconds=10))
        sample = model.snapshot()
        words = encode_live(sample, scales=scales)
        register_map.live(words, serial=SERIAL, at=sample.time)


@functools.cache
def _warmed(scales: Scales) -> RegisterMap:
    register_map = RegisterMap()
    poll(register_map, BatteryModel(NOON), scales, WARM_POLLS)
    assert len(register_map.decided) == 5
    return register_map


def warmed(scales: Scales) -> RegisterMap:
    """A map that has seen WARM_POLLS midday polls, every scale decided."""
    return copy.deepcopy(_warmed(scales))


def cloud(command: Command, values: Mapping[str, str]) -> object:
    """What the server decodes from the frame the simulated battery sends."""
    return decode_message(Frame(Kind.REQUEST, command, encode_json(values)))


# ---------------------------------------------------------------------------------
# Blocks


def test_a_live_poll_is_at_most_four_reads_within_the_modbus_limit() -> None:
    assert len(LIVE_BLOCKS) <= 4
    for block in (*LIVE_BLOCKS, *IDENTITY_BLOCKS, *SETTINGS_BLOCKS):
        assert 1 <= block.count <= reg.MAX_BLOCK
        assert block.start >= 0
        assert block.start + block.count <= 0x10000


def test_every_register_the_map_reads_is_inside_its_blocks() -> None:
    """The encoders write each register the map reads; all must be in a block read."""
    sample = BatteryModel(NOON).snapshot()
    live = {a for b in LIVE_BLOCKS for a in b.addresses}
    identity = {a for b in IDENTITY_BLOCKS for a in b.addresses}
    settings_ = {a for b in SETTINGS_BLOCKS for a in b.addresses}
    assert set(encode_live(sample)) == live
    assert set(encode_identity(SERIAL, at=NOON)) == identity
    assert set(encode_settings({})) == settings_
    # The serial, the clock and the settings are read where the reader looks for them.
    assert {reg.SYSTEM_SERIAL, reg.CLOCK_START} <= identity
    assert reg.TIME_PERIOD_CONTROL in settings_
    assert reg.CHARGE_MINUTES + 3 in settings_


def test_live_and_identity_words_agree_where_their_blocks_overlap() -> None:
    """The battery block read every poll holds the make-up identity reads hourly: a
    simulated inverter may lay the encoders' words over each other in any order."""
    live = encode_live(BatteryModel(NOON).snapshot())
    identity = encode_identity(SERIAL)
    shared = set(live) & set(identity)
    assert shared == set(reg.BATTERY_INFO.addresses)
    assert all(live[a] == identity[a] for a in shared)
    report = RegisterMap().identity(identity | live, serial=SERIAL)
    assert report.battery_capacity == 10.1


# ---------------------------------------------------------------------------------
# The same records as the cloud's

# Cloud fields no register feeds (docs/modbus.md): left None by the map.
NOT_ON_MODBUS: Final = frozenset(
    {
        "apparent_power",
        "reactive_power_ac",
        "reactive_power_dc",
        "ubus",
        "pac_l1",
        "pac_l2",
        "pac_l3",
        "inv_bat_v",
        "flag_bms",
        "bms_work",
        "bms_relay",
        "bmu_relay",
        "bms_shutdown",
        "bat_c1",
        "soc1",
        "err_ems",
        "err_meter",
        "err_backup_box",
        "ems_status",
        "dispatch_switch",
        "pdispatch",
        "dispatch_soc",
        "dispatch_mode",
    }
)


def resolution(name: str, scales: Scales) -> float:
    """How finely the Modbus wire carries a field (the cloud's own is finer or equal)."""
    return {
        "soc": 0.1,
        "bat_v": 0.1,
        "bat_c": abs(scales.battery_current),
        "ua": scales.grid_voltage,
        "ub": scales.grid_voltage,
        "uc": scales.grid_voltage,
        "fac": 0.01,
        "tinv": scales.inverter_temperature,
        "upv1": 0.1,
        "upv2": 0.1,
        "epv_total": max(scales.pv_energy, 0.1),
        "e_input": 0.01,
        "e_output": 0.01,
        "e_charge": 0.1,
        "e_discharge": 0.1,
        "e_grid_charge": 0.1,
    }.get(name, 1.0)


def assert_same(modbus: object, cloud_record: object, scales: Scales) -> None:
    """Field by field: equal within the wire's rounding, or a field Modbus lacks."""
    for declared in fields(modbus):  # type: ignore[arg-type]
        name = declared.name
        mine, theirs = getattr(modbus, name), getattr(cloud_record, name)
        if name == "extra" or (mine is None and theirs is None):
            continue
        if name in NOT_ON_MODBUS:
            assert mine is None, name
            continue
        assert mine is not None, name
        assert theirs is not None, name
        if isinstance(mine, PackedCell):
            assert isinstance(theirs, PackedCell), name
            assert (mine.module, mine.index) == (theirs.module, theirs.index), name
            # Millivolts to the wire's resolution (whole °C for temperatures).
            assert abs(mine.value - theirs.value) <= scales.cell_voltage * 500, name
        elif isinstance(mine, float):
            assert isinstance(theirs, float), name
            tolerance = resolution(name, scales) / 2 + 0.01
            if name == "bat_c":  # the cloud's is pbat / BatV, rounded twice
                tolerance += 0.01
            assert math.isclose(mine, theirs, abs_tol=tolerance), (name, mine, theirs)
        else:
            assert mine == theirs, name


samples = st.builds(
    Sample,
    time=st.datetimes(datetime(2020, 1, 1), datetime(2040, 1, 1)).map(
        lambda t: t.replace(microsecond=0)
    ),
    ppv1=st.floats(0, 6000),
    ppv2=st.floats(0, 6000),
    load=st.just(0.0),
    pbat=st.floats(-6000, 6000),
    grid=st.floats(-15000, 15000),
    soc=st.floats(0, 100),
    totals=st.builds(
        Totals,
        pv=st.floats(0, 100_000),
        grid_import=st.floats(0, 100_000),
        grid_export=st.floats(0, 100_000),
        charge=st.floats(0, 100_000),
        discharge=st.floats(0, 100_000),
        grid_charge=st.floats(0, 100_000),
    ),
)


@pytest.mark.parametrize(
    "scales",
    [DOCUMENTED, MEASURED, MIXED, REVERSED_CURRENT],
    ids=["documented", "measured", "mixed", "reversed-current"],
)
@settings(max_examples=60)
@given(sample=samples)
def test_records_say_what_the_cloud_records_say(sample: Sample, scales: Scales) -> None:
    register_map = warmed(scales)
    realtime, detailed = register_map.live(
        encode_live(sample, scales=scales), serial=SERIAL, at=sample.time
    )
    cloud_realtime = cloud(Command.REALTIME, realtime_values(sample, SERIAL))
    cloud_detailed = cloud(Command.DETAILED_RECORD, detailed_record(sample, SERIAL))
    assert isinstance(cloud_realtime, RealtimeRecord)
    assert isinstance(cloud_detailed, DetailedRecord)
    assert_same(realtime, cloud_realtime, scales)
    assert_same(detailed, cloud_detailed, scales)
    # What Home Assistant computes from them, house load first.
    for record, theirs in ((realtime, cloud_realtime), (detailed, cloud_detailed)):
        for flow in ("house_load", "grid_power", "inverter_power", "pv_power"):
            assert math.isclose(
                getattr(record, flow), getattr(theirs, flow), abs_tol=2.0
            ), flow


# ---------------------------------------------------------------------------------
# Plausibility decisions


@pytest.mark.parametrize(
    "scales",
    [DOCUMENTED, MEASURED, MIXED, REVERSED_CURRENT],
    ids=["documented", "measured", "mixed", "reversed-current"],
)
@settings(max_examples=15)
@given(
    seed=st.integers(0, 10_000),
    minutes=st.integers(0, 240),  # starting between 09:00 and 13:00
)
def test_each_disputed_scale_is_decided_right(
    scales: Scales, seed: int, minutes: int
) -> None:
    start = datetime(2026, 6, 1, 9, 0) + timedelta(minutes=minutes)
    model = BatteryModel(start, seed=seed)
    register_map = RegisterMap()
    # Enough polls: the PV total must move (at 09:00 under a cloud, about 15 min).
    for _ in range(MAX_POLLS):
        poll(register_map, model, scales, 1)
        if len(register_map.decided) == 5:
            break
    for name in (*DECIDED, "battery_current"):
        assert register_map.scale(name) == getattr(scales, name), name
    assert set(register_map.decisions) == {*DECIDED, "battery_current"}


@pytest.mark.parametrize("scales", VARIANTS.values(), ids=VARIANTS)
def test_an_undecided_scale_reads_none_not_a_guess(scales: Scales) -> None:
    register_map = RegisterMap()
    sample = BatteryModel(NOON).snapshot()
    _, first = register_map.live(
        encode_live(sample, scales=scales), serial=SERIAL, at=sample.time
    )
    assert first.ua is None
    assert first.tinv is None
    assert first.epv_total is None
    assert first.vcell_low is None
    assert first.vcell_high is None
    assert first.bat_c is None
    # Undisputed fields are there from the first poll.
    assert first.bat_v is not None
    assert first.e_input is not None
    assert first.soc
    assert register_map.decisions == {}


def test_pv_energy_waits_for_daylight_and_a_gap_restarts_the_count() -> None:
    """At night the PV total cannot be checked against PV power: it stays None."""
    register_map = RegisterMap()
    poll(register_map, BatteryModel(datetime(2026, 6, 1, 0, 0)), MEASURED, MAX_POLLS)
    assert register_map.scale("pv_energy") is None
    assert "pv_energy" not in register_map.decisions
    # Polls far apart say nothing about what happened between them.
    model = BatteryModel(NOON)
    sparse = RegisterMap()
    for _ in range(WARM_POLLS):
        model.advance_to(model.now + timedelta(minutes=11))
        sample = model.snapshot()
        sparse.live(encode_live(sample, scales=MEASURED), serial=SERIAL, at=sample.time)
    assert sparse.scale("pv_energy") is None


def test_record_times_of_either_kind_never_break_a_poll() -> None:
    """A clock read from the inverter (naive) and the host's (aware) may alternate."""
    register_map = RegisterMap()
    model = BatteryModel(NOON)
    for n in range(4):
        model.advance_to(model.now + timedelta(seconds=10))
        sample = model.snapshot()
        at = sample.time if n % 2 else sample.time.replace(tzinfo=UTC)
        realtime, _ = register_map.live(encode_live(sample), serial=SERIAL, at=at)
        assert realtime.time == at


def test_inverter_temperature_needs_the_cells_to_be_judged() -> None:
    """38 °C or 3.8 °C are both possible for an inverter: without cells, no decision."""
    words = encode_live(BatteryModel(NOON).snapshot())
    for address in (reg.CELL_TEMPERATURE_LOW + 2, reg.CELL_TEMPERATURE_HIGH + 2):
        words[address] = 0x8000  # the signed sentinel: no cell temperature
    register_map = RegisterMap()
    for _ in range(10):
        _, detailed = register_map.live(words, serial=SERIAL, at=NOON)
    assert register_map.scale("inverter_temperature") is None
    assert detailed.tinv is None


def test_contradicting_evidence_decides_nothing() -> None:
    documented = encode_live(BatteryModel(NOON).snapshot(), scales=DOCUMENTED)
    measured = encode_live(BatteryModel(NOON).snapshot(), scales=MEASURED)
    register_map = RegisterMap()
    for n in range(12):
        register_map.live(
            documented if n % 2 else measured, serial=SERIAL, at=NOON + timedelta(n)
        )
    assert register_map.scale("grid_voltage") is None


def test_decisions_are_logged_once_each_without_the_serial(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=reg.__name__)
    register_map = RegisterMap()
    poll(register_map, BatteryModel(NOON), MEASURED, 3 * WARM_POLLS)
    lines = [r.getMessage() for r in caplog.records if r.name == reg.__name__]
    assert len(lines) == len(register_map.decisions) == 5
    assert all(SERIAL not in line for line in lines)
    assert any("grid_voltage = 0.1 V" in line for line in lines)


def test_a_later_map_starts_from_the_decided_scales() -> None:
    remembered = warmed(MEASURED).decided
    register_map = RegisterMap({**remembered, "grid_voltage": 7.0, "unknown": 1.0})
    sample = BatteryModel(NOON).snapshot()
    _, detailed = register_map.live(
        encode_live(sample, scales=MEASURED), serial=SERIAL, at=sample.time
    )
    assert detailed.tinv == 38.0
    assert detailed.epv_total is not None
    assert detailed.ua is None  # 7 V a count is no candidate: decided afresh
    assert set(register_map.decided) == set(remembered) - {"grid_voltage"}


# ---------------------------------------------------------------------------------
# Nonsense


def value_spans() -> list[tuple[int, int]]:
    """(first register, registers) of every value the live map reads."""
    return [
        (reg.GRID_EXPORT_TOTAL, 2),
        (reg.GRID_IMPORT_TOTAL, 2),
        *((a, 1) for a in reg.GRID_VOLTAGE),
        (reg.GRID_FREQUENCY, 1),
        *((a, 2) for a in reg.GRID_POWER_PHASES),
        (reg.PV_METER_POWER, 2),
        (reg.BATTERY_VOLTAGE, 1),
        (reg.BATTERY_CURRENT, 1),
        (reg.BATTERY_SOC, 1),
        *((reg.CELL_VOLTAGE_LOW + n, 1) for n in range(12)),
        (reg.BATTERY_MODULES, 1),
        (reg.BATTERY_FAULT, 2),
        (reg.CHARGE_TOTAL, 2),
        (reg.DISCHARGE_TOTAL, 2),
        (reg.GRID_CHARGE_TOTAL, 2),
        (reg.BATTERY_POWER, 1),
        (reg.BMS_CHARGE_LIMIT, 1),
        (reg.BMS_DISCHARGE_LIMIT, 1),
        *((a, 2) for a in reg.INVERTER_POWER_PHASES),
        (reg.INVERTER_FREQUENCY, 1),
        *((reg.PV_STRINGS[n], 1) for n in range(2)),  # the currents feed no field
        *((reg.PV_STRINGS[n] + 2, 2) for n in range(2)),
        (reg.INVERTER_TEMPERATURE, 1),
        (reg.INVERTER_WARNING, 2),
        (reg.INVERTER_FAULT, 2),
        (reg.PV_TOTAL, 2),
        (reg.INVERTER_WORK_MODE, 1),
    ]


def decoded(words: Mapping[int, int], register_map: RegisterMap) -> dict[str, object]:
    realtime, detailed = register_map.live(words, serial=SERIAL, at=NOON)
    assert realtime.pmeter_l1 == detailed.pmeter_l1
    return {f.name: getattr(detailed, f.name) for f in fields(detailed)}


@pytest.mark.parametrize("scales", VARIANTS.values(), ids=VARIANTS)
@pytest.mark.parametrize("span", value_spans(), ids=lambda s: f"{s[0]:#06x}x{s[1]}")
def test_a_sentinel_reads_none_and_touches_nothing_else(
    span: tuple[int, int], scales: Scales
) -> None:
    """A value's sentinel makes it missing: never a number, never another field."""
    register_map = warmed(scales)
    clean_words = encode_live(BatteryModel(NOON).snapshot(), scales=scales)
    clean = decoded(clean_words, register_map)
    start, count = span
    for sentinel in sentinels(start, count):
        words = dict(clean_words)
        words.update(zip(range(start, start + count), sentinel, strict=True))
        dirty = decoded(words, register_map)
        gone = [k for k in clean if dirty[k] != clean[k]]
        assert all(dirty[k] is None for k in gone), (gone, sentinel)
        if start not in UNUSED:
            assert gone, (f"{start:#06x}", sentinel)


def sentinels(start: int, count: int) -> list[tuple[int, ...]]:
    """The words that mean "no value" in a register of this kind."""
    if start in SIGNED:
        return [(0x7FFF,), (0x8000,)] if count == 1 else [(0x7FFF, 0xFFFF), (0x8000, 0)]
    return [(0xFFFF,) * count]


# Signed registers: all ones is -1 there, a real reading; 0x7FFF.. and 0x8000.. are not.
SIGNED: Final = frozenset(
    {
        reg.BATTERY_CURRENT,
        reg.BATTERY_POWER,
        reg.INVERTER_TEMPERATURE,
        reg.CELL_TEMPERATURE_LOW + 2,
        reg.CELL_TEMPERATURE_HIGH + 2,
        *reg.GRID_POWER_PHASES,
        *reg.INVERTER_POWER_PHASES,
        reg.PV_METER_POWER,
    }
)
# Registers whose value is 0 in the clean poll, where a sentinel changes nothing, and
# the frequencies: the meter's stands in for the inverter's, and is read only then.
UNUSED: Final = frozenset(
    {
        reg.GRID_FREQUENCY,
        reg.INVERTER_FREQUENCY,
        *reg.GRID_VOLTAGE[1:],
        *reg.GRID_POWER_PHASES[1:],
        *reg.INVERTER_POWER_PHASES[1:],
        reg.PV_METER_POWER,
        reg.BATTERY_FAULT,
        reg.INVERTER_WARNING,
        reg.INVERTER_FAULT,
    }
)


def test_all_ones_reads_nothing_but_minus_one_where_signed() -> None:
    words = dict.fromkeys((a for b in LIVE_BLOCKS for a in b.addresses), 0xFFFF)
    register_map = warmed(DOCUMENTED)
    realtime, detailed = register_map.live(words, serial=SERIAL, at=NOON)
    minus_one = {
        "pbat": -1.0,
        "bat_c": -0.1,
        "tinv": -0.1,
        **dict.fromkeys(("preal_l1", "preal_l2", "preal_l3"), -1.0),
        **dict.fromkeys(("pmeter_l1", "pmeter_l2", "pmeter_l3", "pmeter_dc"), -1.0),
    }
    for record in (realtime, detailed):
        for f in fields(record):
            if f.name not in ("serial", "time", "extra"):
                assert getattr(record, f.name) == minus_one.get(f.name), f.name
    assert realtime.house_load == -7.0


BOUNDS: Final = {
    "soc": (0, 100),
    "bat_v": (0, 1000),
    "bat_c": (-500, 500),
    "ua": (0, 280),
    "ub": (0, 280),
    "uc": (0, 280),
    "fac": (40, 70),
    "tinv": (-40, 100),
    "upv1": (0, 1000),
    "upv2": (0, 1000),
}


@settings(max_examples=200)
@given(
    data=st.data(),
    scales=st.sampled_from([DOCUMENTED, MEASURED]),
)
def test_any_words_give_physical_values_or_none(
    data: st.DataObject, scales: Scales
) -> None:
    addresses = [a for b in LIVE_BLOCKS for a in b.addresses]
    words = data.draw(
        st.dictionaries(
            st.sampled_from(addresses), st.integers(0, 0xFFFF), max_size=len(addresses)
        )
    )
    register_map = warmed(scales)
    values = decoded(words, register_map)
    for name, value in values.items():
        if isinstance(value, float):
            assert math.isfinite(value), name
            low, high = BOUNDS.get(name, (-100_000, 10_000_000))
            assert low <= value <= high, (name, value)
        elif isinstance(value, PackedCell):
            assert 0 <= value.module <= 0xFF
            assert 0 <= value.index <= 0xFF
            assert -40 <= value.value <= 4500, name


def test_out_of_bounds_values_read_none() -> None:
    register_map = warmed(DOCUMENTED)
    words = encode_live(BatteryModel(NOON).snapshot())
    words[reg.BATTERY_SOC] = 1001  # 100.1 %
    words[reg.GRID_VOLTAGE[0]] = 400  # 400 V at 1 V a count
    words[reg.INVERTER_TEMPERATURE] = 2000  # 200 °C
    words[reg.CELL_VOLTAGE_LOW + 2] = 9000  # 9 V a cell
    words[reg.PV_TOTAL], words[reg.PV_TOTAL + 1] = 0xFFFF, 0xFFFE  # 429 million kWh
    words[reg.GRID_FREQUENCY] = words[reg.INVERTER_FREQUENCY] = 9000  # 90 Hz
    _, detailed = register_map.live(words, serial=SERIAL, at=NOON)
    assert detailed.soc is None
    assert detailed.ua is None
    assert detailed.tinv is None
    assert detailed.vcell_low is None
    assert detailed.vcell_high is not None
    assert detailed.epv_total is None
    assert detailed.fac is None


def test_signed_words_and_high_word_first() -> None:
    words = {0: 0xFFFE, 1: 0x0001, 2: 0x8001}
    assert reg.s16(words, 0) == -2
    assert reg.u16(words, 0) == 0xFFFE
    assert reg.s16(words, 2) == -32767
    assert reg.u32(words, 0) == 0xFFFE0001
    assert reg.s32(words, 0) == -0x1FFFF
    assert reg.s32(words, 1) == 0x00018001
    assert reg.u16({0: 0x10000}, 0) is None
    assert reg.u16({}, 0) is None


def test_a_phase_less_meter_gives_its_total_on_l1() -> None:
    words = encode_live(BatteryModel(NOON).snapshot())
    for address in reg.GRID_POWER_PHASES:
        words[address], words[address + 1] = 0x8000, 0
    realtime, _ = RegisterMap().live(words, serial=SERIAL, at=NOON)
    assert realtime.pmeter_l1 == reg.s32(words, reg.GRID_POWER)
    assert realtime.pmeter_l2 is None
    assert realtime.pmeter_l3 is None


def test_strings_beyond_two_are_kept_in_extra() -> None:
    """The cloud has two PV strings; a third (some models) stays visible in extra."""
    words = encode_live(BatteryModel(NOON).snapshot())
    third = reg.PV_STRINGS[2]
    words[third], words[third + 2], words[third + 3] = 3105, 0, 1234
    realtime, detailed = RegisterMap().live(words, serial=SERIAL, at=NOON)
    for record in (realtime, detailed):
        assert record.extra == {"Ppv3": 1234.0, "Upv3": 310.5}


# ---------------------------------------------------------------------------------
# Identity and settings


def test_identity_reads_the_serial_clock_versions_and_capacity() -> None:
    at = datetime(2026, 12, 6, 23, 59, 58)
    words = encode_identity(SERIAL, at=at, capacity_kwh=13.3) | encode_settings(
        {"grid_charging": True, "charge_stop_soc": 95, "discharge_cutoff_soc": 15},
        feed_in_limit=70,
        pv_capacity_w=9200,
    )
    assert read_serial(words) == SERIAL
    assert read_clock(words) == at
    report = RegisterMap().identity(words, serial=SERIAL)
    assert report.serial == SERIAL
    assert report.battery_capacity == 13.3
    assert report.ems_version == "V1.01.05"
    assert report.inverter_version == "V00.21"
    assert report.inverter_serial == "SIMINV0001"
    assert report.slave_version == "V1.02"
    assert report.export_limit == 70.0
    assert report.pv_capacity == 9.2
    assert report.grid_charge is True
    assert report.discharge_control is False
    assert (report.charge_stop_soc, report.discharge_cutoff_soc) == (95.0, 15.0)
    # The setting entities read the cloud's keys from the report.
    assert GRID_CHARGING.read(report.raw) is True
    # ... and a window end's minute under minute_key (Modbus holds minutes).
    windows = [s.wire_key for s in SETTINGS if s.kind is SettingKind.HOUR]
    assert {s.wire_key for s in SETTINGS} | {minute_key(k) for k in windows} == set(
        report.raw
    )


def test_identity_says_what_the_cloud_system_report_says() -> None:
    """The simulated battery's system report and its Modbus identity agree."""
    identity, model = Identity(), BatteryModel(NOON)
    cloud_settings = {
        "GridCharge": "true",
        "CtrDis": "false",
        "TimeChaF1": "2",
        "TimeChaE1": "5",
        "TimeChaF2": "0",
        "TimeChaE2": "0",
        "TimeDisF1": "17",
        "TimeDisE1": "22",
        "TimeDisF2": "0",
        "TimeDisE2": "0",
        "BatHighCap": "95",
        "BatUseCap": "10",
        "SetFeed": "100",
    }
    theirs = cloud(
        Command.SYSTEM_REPORT, system_report(identity, model, cloud_settings)
    )
    assert isinstance(theirs, SystemReport)
    values = {s.key: s.read(cloud_settings) for s in SETTINGS}
    words = encode_identity(
        identity.serial,
        inverter_serial=identity.inverter_serial,
        capacity_kwh=model.capacity_kwh,
    ) | encode_settings(
        {k: v for k, v in values.items() if v is not None},
        pv_capacity_w=round(model.pv_peak / 500 * 1000),
    )
    mine = RegisterMap().identity(words, serial=identity.serial)
    compared = 0
    for declared in fields(SystemReport):
        name = declared.name
        if name in ("extra", "raw") or getattr(mine, name) is None:
            continue
        if name == "slave_version":  # the DSP's: the simulated battery reports none
            continue
        assert getattr(mine, name) == getattr(theirs, name), name
        compared += 1
    assert compared == 11  # serial, capacities, versions, settings, inverter serial
    for setting in SETTINGS:
        assert setting.read(mine.raw) == setting.read(theirs.raw), setting.key


@pytest.mark.parametrize(
    "text",
    ["", "AL90 02", "AL9\x01002", "A", "ÄL9002021030042"[:8]],
)
def test_read_serial_refuses_what_is_no_serial(text: str) -> None:
    words = encode_identity(SERIAL)
    for n in range(8):
        words[reg.SYSTEM_SERIAL + n] = 0
    raw = text.encode("latin-1")
    for n in range(0, len(raw), 2):
        pair = raw[n : n + 2].ljust(2, b"\x00")
        words[reg.SYSTEM_SERIAL + n // 2] = pair[0] << 8 | pair[1]
    assert read_serial(words) is None
    assert read_serial({}) is None
    assert read_serial(dict.fromkeys(range(1859, 1867), 65535)) is None


def test_an_impossible_clock_reads_none() -> None:
    words = reg.encode_clock(NOON)
    words[reg.CLOCK_START] = 26 << 8 | 13  # month 13
    assert read_clock(words) is None


hours = st.integers(0, 23)
minutes = st.integers(0, 59)
setting_values = st.fixed_dictionaries(
    {
        "grid_charging": st.booleans(),
        "discharge_control": st.booleans(),
        "charge_stop_soc": st.integers(0, 100),
        "discharge_cutoff_soc": st.integers(0, 100),
        **{s.key: hours for s in reg.CHARGE_WINDOW_ENDS + reg.DISCHARGE_WINDOW_ENDS},
        **{
            f"{s.key}_minute": minutes
            for s in reg.CHARGE_WINDOW_ENDS + reg.DISCHARGE_WINDOW_ENDS
        },
    }
)


@given(values=setting_values)
def test_settings_round_trip(values: dict[str, bool | int]) -> None:
    words = encode_settings(values)
    assert RegisterMap().settings(words) == values
    # Each change alone lands where settings() reads it.
    for key, value in values.items():
        written = dict(words) | dict(setting_writes({key: value}, current=words))
        assert RegisterMap().settings(written)[key] == value


def test_the_registers_are_where_the_sources_put_them() -> None:
    writes = dict(
        setting_writes(
            {
                "grid_charging": True,
                "discharge_control": True,
                "discharge_cutoff_soc": 10,
                "charge_stop_soc": 90,
                "discharge_window_1_start": 16,
                "discharge_window_2_end": 23,
                "charge_window_1_start": 1,
                "charge_window_2_end": 6,
                "discharge_window_1_start_minute": 30,
                "charge_window_2_end_minute": 45,
            }
        )
    )
    assert writes == {
        0x084F: 3,
        0x0850: 10,
        0x0851: 16,
        0x0854: 23,
        0x0855: 90,
        0x0856: 1,
        0x0859: 6,
        0x085A: 30,
        0x0861: 45,
    }


def test_one_switch_keeps_the_other_as_read() -> None:
    current = encode_settings({"discharge_control": True})
    assert setting_writes({"grid_charging": True}, current=current) == [(0x084F, 3)]
    assert setting_writes({"grid_charging": False}, current=current) == [(0x084F, 2)]
    with pytest.raises(ValueError, match="read the settings"):
        setting_writes({"grid_charging": True})


@pytest.mark.parametrize(
    "changes",
    [
        {"charge_stop_soc": 101},
        {"charge_window_1_start": 24},
        {"charge_window_1_start_minute": 60},
        {"charge_window_1_start": 1.5},
        {"discharge_cutoff_soc": True},
        {"grid_charging": 1},
        {"export_limit": 50},
        {"charge_window_1_start": 2, "charge_stop_soc": -1},
    ],
)
def test_writes_refuse_what_the_inverter_cannot_hold(
    changes: dict[str, bool | int | float],
) -> None:
    with pytest.raises(ValueError, match="must|cannot"):
        setting_writes(changes, current=encode_settings({}))


def test_settings_leave_out_nonsense() -> None:
    words = encode_settings({"charge_window_1_start": 2})
    words[reg.TIME_PERIOD_CONTROL] = 7
    words[reg.CHARGE_STOP] = 0xFFFF
    words[reg.CHARGE_HOURS] = 24
    values = RegisterMap().settings(words)
    assert "grid_charging" not in values
    assert "discharge_control" not in values
    assert "charge_stop_soc" not in values
    assert "charge_window_1_start" not in values
    assert values["charge_window_1_start_minute"] == 0
