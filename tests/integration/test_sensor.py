"""Entities appear when a battery is heard, and hold the values it sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    EVENT_STATE_REPORTED,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.alphaess_local.const import DOMAIN
from custom_components.alphaess_local.coordinator import battery_device
from tests.conftest import warnings_logged

from .conftest import SERIAL, RecordedBattery

DOMAIN_LOGGER = "custom_components.alphaess_local"


def entity_id(
    hass: HomeAssistant, platform: str, key: str, serial: str = SERIAL
) -> str:
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{serial}_{key}")
    assert found, key
    return found


def value(hass: HomeAssistant, key: str, platform: str = "sensor") -> str:
    state = hass.states.get(entity_id(hass, platform, key))
    assert state is not None, key
    return state.state


async def test_recorded_session_creates_device_and_entities(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()

    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    assert device.manufacturer == "AlphaESS"
    assert device.model == "Smile-BAT-10.1P"
    assert device.sw_version == "V1.01.05"
    assert device.hw_version == "V1.02"
    assert device.serial_number == SERIAL

    # Second realtime push of the session (10:02:02).
    assert float(value(hass, "state_of_charge")) == 33.2
    # Sent as "-688.8960" (volts times amps): the state is whole watts.
    assert value(hass, "battery_power") == "-689"
    assert float(value(hass, "pv_power")) == 2475
    assert float(value(hass, "pv1_power")) == 1245
    assert float(value(hass, "ac_pv_power")) == 1077
    assert float(value(hass, "grid_power")) == -9
    assert float(value(hass, "inverter_power")) == 1640
    assert float(value(hass, "house_load")) == 1640 - 9 + 1077
    # Detailed record (10:02:40).
    assert float(value(hass, "pv_energy")) == 433.0
    assert float(value(hass, "grid_import_energy")) == 60.0
    assert float(value(hass, "grid_export_energy")) == 128.4
    assert float(value(hass, "battery_charge_energy")) == 143.9
    assert float(value(hass, "battery_discharge_energy")) == 138.6
    assert float(value(hass, "battery_grid_charge_energy")) == 2.9
    assert float(value(hass, "pv1_voltage")) == 270.3
    assert float(value(hass, "grid_voltage")) == 248.2
    assert float(value(hass, "grid_frequency")) == 50.0
    assert float(value(hass, "battery_voltage")) == 49.92
    assert float(value(hass, "battery_current")) == -14.2
    assert float(value(hass, "inverter_temperature")) == 38
    assert float(value(hass, "cell_voltage_low")) == 3327  # 17173759 = 0x01060CFF
    assert float(value(hass, "cell_temperature_high")) == 22
    assert float(value(hass, "bms_charge_limit")) == 4949
    assert value(hass, "ems_status") == "Normal"
    assert value(hass, "bms_error") == "0"
    # System report.
    assert float(value(hass, "battery_capacity")) == 10.1
    assert float(value(hass, "usable_capacity")) == 90
    assert float(value(hass, "charge_stop_soc")) == 100
    assert float(value(hass, "discharge_cutoff_soc")) == 13
    assert value(hass, "grid_charge", "binary_sensor") == STATE_OFF
    assert value(hass, "connected", "binary_sensor") == STATE_ON
    assert value(hass, "fault", "binary_sensor") == STATE_OFF
    assert value(hass, "connected_since") != STATE_UNAVAILABLE

    ent_reg = er.async_get(hass)
    # Single phase, single module: no per-phase or per-module entities.
    keys = {
        e.unique_id.removeprefix(f"{SERIAL}_")
        for e in er.async_entries_for_device(ent_reg, device.id)
    }
    assert not {
        k
        for k in keys
        if k.endswith(("_l1", "_l2", "_l3")) or k.startswith("module_soc")
    }
    for key in (
        "apparent_power",
        "battery_charge_power",
        "battery_discharge_power",
        "grid_import_power",
        "grid_export_power",
    ):
        disabled = ent_reg.async_get(entity_id(hass, "sensor", key))
        assert disabled is not None, key
        assert disabled.disabled_by is er.RegistryEntryDisabler.INTEGRATION, key
        assert hass.states.get(disabled.entity_id) is None, key

    assert [r.getMessage() for r in warnings_logged(caplog)] == []
    assert all(record.exc_info is None for record in caplog.records)
    assert SERIAL not in caplog.text
    assert "recorded-pw" not in caplog.text


async def test_late_and_repeated_records_never_go_backwards(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    session = client.session
    older = dict(
        session["detail"], Time="2021/03/24 09:00:00", EpvTotal="400.0", SOC="10.0"
    )
    await client.request(5, older)
    newest = session["realtime"][-1]
    assert newest["SOC"] == "33.2"
    # A resend of a record already shown, with values unlike the newest: skipped.
    await client.request(16, dict(session["realtime"][0], SOC="12.3", Pbat="-999"))
    # A late record never seen before, older than the newest: the newer wins.
    await client.request(16, dict(newest, Time="2021/03/24 10:00:01", SOC="11.1"))
    newer_but_lower = dict(
        session["detail"], Time="2021/03/24 10:07:40", EpvTotal="432.0", Echarge="144.5"
    )
    await client.request(5, newer_but_lower)
    await hass.async_block_till_done()
    assert float(value(hass, "pv_energy")) == 433.0
    assert float(value(hass, "battery_charge_energy")) == 144.5
    assert float(value(hass, "state_of_charge")) == 33.2
    assert float(value(hass, "battery_power")) == round(float(newest["Pbat"]))


async def test_three_phase_and_multi_module_entities(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    detail = dict(
        client.session["detail"],
        Ub="231.0",
        Uc="229.5",
        PmeterL2="120",
        BmsNum="2",
        SOC1="40.0",
        SOC2="42.0",
    )
    await client.request(5, detail)
    realtime = dict(client.session["realtime"][0], PmeterL2="120", PrealL3="300")
    await client.request(16, realtime)
    await hass.async_block_till_done()
    assert float(value(hass, "grid_voltage_l3")) == 229.5
    assert float(value(hass, "grid_power_l2")) == 120
    assert float(value(hass, "inverter_power_l3")) == 300
    assert float(value(hass, "module_soc_2")) == 42
    state = hass.states.get(entity_id(hass, "sensor", "module_soc_2"))
    assert state is not None
    assert state.name.endswith("Module 2 state of charge")
    assert (
        er.async_get(hass).async_get_entity_id(
            "sensor", DOMAIN, f"{SERIAL}_module_soc_3"
        )
        is None
    )


async def test_fault_sensor_lists_codes(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.request(5, dict(client.session["detail"], ErrBms="17"))
    await hass.async_block_till_done()
    state = hass.states.get(entity_id(hass, "binary_sensor", "fault"))
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["ErrBms"] == 17


@callback
def _every(_event_data: Any) -> bool:
    return True


async def test_event_log_fires_each_entry_once(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    fired: list[dict[str, Any]] = []

    @callback
    def _written(event: Event[Any]) -> None:
        if event.data["entity_id"].startswith("event."):
            fired.append(event.data["new_state"].attributes)

    # Every write counts: two entries fired within one timestamp with the same code
    # leave the state as it was, which Home Assistant 2026 reports instead of changing.
    hass.bus.async_listen(EVENT_STATE_CHANGED, _written)
    hass.bus.async_listen(EVENT_STATE_REPORTED, _written, event_filter=_every)
    client: RecordedBattery = await battery()
    await client.request(2, {"UserName": SERIAL, "Password": "x"})
    await hass.async_block_till_done()
    log = client.session["event_log"]
    await client.request(9, log)
    await client.request(9, log)  # resent on reconnect: nothing new
    newer = dict(log, MsgContent="21/03/24 10:05:00 30;" + log["MsgContent"])
    await client.request(9, newer)
    await hass.async_block_till_done()
    codes = [a["code"] for a in fired if "code" in a]
    assert len(codes) == 17
    assert codes[0] == 23  # oldest entry first
    assert codes[-1] == 30
    assert fired[-1]["battery_time"] == "2021-03-24T10:05:00"
    assert fired[-1]["event_type"] == "logged"


async def test_entry_without_battery_is_quiet(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    changed: list[str] = []
    hass.bus.async_listen(
        EVENT_STATE_CHANGED, lambda event: changed.append(event.data["entity_id"])
    )
    # Nine minutes without a battery: short of the ten after which a repair says so.
    start = dt_util.utcnow()
    for minute in range(1, 10):
        async_fire_time_changed(hass, start + timedelta(minutes=minute))
        await hass.async_block_till_done()

    assert loaded_entry.state is ConfigEntryState.LOADED
    assert (
        er.async_entries_for_config_entry(er.async_get(hass), loaded_entry.entry_id)
        == []
    )
    assert (
        dr.async_entries_for_config_entry(dr.async_get(hass), loaded_entry.entry_id)
        == []
    )
    assert hass.states.async_all() == []
    assert changed == []
    assert [
        i for (domain, _), i in ir.async_get(hass).issues.items() if domain == DOMAIN
    ] == []
    # Nothing above debug level from us, from setup on.
    ours = [
        r.getMessage()
        for r in caplog.get_records("setup") + caplog.records
        if r.name.startswith(DOMAIN_LOGGER) and r.levelno > logging.INFO
    ]
    assert ours == []


async def test_event_log_not_repeated_after_restart(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    # Each firing stamps a new state; restoring the last one after a reload does not.
    fired: set[tuple[str, int, str]] = set()
    hass.bus.async_listen(
        "state_changed",
        lambda event: fired.add(
            (
                event.data["new_state"].state,
                event.data["new_state"].attributes["code"],
                event.data["new_state"].attributes["battery_time"],
            )
        )
        if event.data["entity_id"].startswith("event.")
        and event.data["new_state"].attributes.get("code")
        else None,
    )
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert len(fired) == 16
    await client.close()
    # Reloading saves and restores the newest entry seen, as a restart would.
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    again: RecordedBattery = await battery()
    await again.replay()
    await hass.async_block_till_done()
    assert len(fired) == 16
    assert float(value(hass, "pv_energy")) == 433.0


HALVES = (
    "battery_charge_power",
    "battery_discharge_power",
    "grid_import_power",
    "grid_export_power",
)


async def test_a_half_disabled_by_default_can_be_enabled(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    ent_reg = er.async_get(hass)
    charge = entity_id(hass, "sensor", "battery_charge_power")
    assert hass.states.get(charge) is None
    ent_reg.async_update_entity(charge, disabled_by=None)
    await client.close()
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    client = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert value(hass, "battery_charge_power") == "689"
    for key in HALVES[1:]:  # the others stay off
        assert hass.states.get(entity_id(hass, "sensor", key)) is None, key


async def test_halves_enabled_before_stay_enabled(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    # An install from before they were off by default: its registry has them enabled.
    ent_reg = er.async_get(hass)
    for key in HALVES:
        ent_reg.async_get_or_create(
            "sensor", DOMAIN, f"{SERIAL}_{key}", config_entry=loaded_entry
        )
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert value(hass, "battery_charge_power") == "689"
    assert value(hass, "battery_discharge_power") == "0"
    assert value(hass, "grid_import_power") == "0"
    assert value(hass, "grid_export_power") == "9"


async def test_values_are_rounded_to_what_the_battery_measures(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    session = client.session
    newest = session["realtime"][-1]
    await client.request(
        16,
        dict(newest, Time="2021/03/24 10:02:12", Pbat="1653.9826", PmeterL1="-0.4"),
    )
    await client.request(
        5,
        dict(
            session["detail"],
            Time="2021/03/24 10:07:40",
            Ua="230.04",
            BatV="50.486",
            BatC="-0.04",
            Fac="50.013",
            EpvTotal="433.05",
        ),
    )
    await hass.async_block_till_done()
    assert value(hass, "battery_power") == "1654"
    assert value(hass, "grid_power") == "0"  # never "-0"
    assert value(hass, "grid_voltage") == "230.0"
    assert value(hass, "battery_voltage") == "50.49"  # measured to 10 mV
    assert value(hass, "battery_current") == "0.0"  # never "-0.0"
    # Other units as the battery sends them; energy totals never lose a decimal.
    assert value(hass, "grid_frequency") == "50.013"
    assert value(hass, "pv_energy") == "433.05"
