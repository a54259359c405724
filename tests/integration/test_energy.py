"""The Energy dashboard accepts our sensors without a single validation issue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.components.energy.data import (
    BatterySourceType,
    GridSourceType,
    SolarSourceType,
)
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from .conftest import RecordedBattery
from .test_sensor import entity_id


async def test_energy_preferences_validate_clean(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    battery: Callable[[], Any],
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    period = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    do_adhoc_statistics(hass, start=period)
    await async_wait_recording_done(hass)

    ids = {
        key: entity_id(hass, "sensor", f"{key}_energy")
        for key in (
            "grid_import",
            "grid_export",
            "pv",
            "battery_charge",
            "battery_discharge",
        )
    }
    soc = entity_id(hass, "sensor", "state_of_charge")
    power = {
        key: entity_id(hass, "sensor", f"{key}_power")
        for key in ("grid", "battery", "pv")
    }
    assert await async_setup_component(hass, "energy", {})
    ws = await hass_ws_client(hass)
    await ws.send_json_auto_id(
        {
            "type": "energy/save_prefs",
            "energy_sources": energy_sources(ids, power, soc),
            "device_consumption": [],
        }
    )
    saved = await ws.receive_json()
    assert saved["success"], saved

    await ws.send_json_auto_id({"type": "energy/validate"})
    validation = await ws.receive_json()
    assert validation["success"], validation
    result = validation["result"]
    # One list of issues per source, all empty; newer releases add other keys.
    assert result["energy_sources"] == [[], [], []]
    assert result["device_consumption"] == []


def energy_sources(
    ids: dict[str, str], power: dict[str, str], soc: str
) -> list[dict[str, Any]]:
    """Grid, solar and battery, in the form the running Home Assistant takes.

    2026.2 added power sensors (``stat_rate``; grid positive when importing, battery
    positive when discharging), 2026.10 the battery's state of charge and usable
    capacity, and one grid source with import and export instead of two flow lists.
    """
    grid: dict[str, Any]
    if "stat_energy_from" in GridSourceType.__annotations__:
        grid = {
            "type": "grid",
            "stat_energy_from": ids["grid_import"],
            "stat_energy_to": ids["grid_export"],
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "cost_adjustment_day": 0,
        }
    else:
        grid = {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": ids["grid_import"],
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [
                {
                    "stat_energy_to": ids["grid_export"],
                    "stat_compensation": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "cost_adjustment_day": 0,
        }
    solar: dict[str, Any] = {
        "type": "solar",
        "stat_energy_from": ids["pv"],
        "config_entry_solar_forecast": None,
    }
    battery: dict[str, Any] = {
        "type": "battery",
        "stat_energy_from": ids["battery_discharge"],
        "stat_energy_to": ids["battery_charge"],
    }
    if "stat_rate" in SolarSourceType.__annotations__:
        if "stat_energy_from" in GridSourceType.__annotations__:
            grid["stat_rate"] = power["grid"]
        solar["stat_rate"] = power["pv"]
        battery["stat_rate"] = power["battery"]
    if "stat_soc" in BatterySourceType.__annotations__:
        battery["stat_soc"] = soc
        battery["capacity"] = 9.09  # Cobat 10.1 kWh at Uscapacity 90 %
    return [grid, solar, battery]
