"""The Energy dashboard accepts our sensors without a single validation issue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    assert await async_setup_component(hass, "energy", {})
    ws = await hass_ws_client(hass)
    await ws.send_json_auto_id(
        {
            "type": "energy/save_prefs",
            "energy_sources": [
                {
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
                },
                {
                    "type": "solar",
                    "stat_energy_from": ids["pv"],
                    "config_entry_solar_forecast": None,
                },
                {
                    "type": "battery",
                    "stat_energy_from": ids["battery_discharge"],
                    "stat_energy_to": ids["battery_charge"],
                },
            ],
            "device_consumption": [],
        }
    )
    saved = await ws.receive_json()
    assert saved["success"], saved

    await ws.send_json_auto_id({"type": "energy/validate"})
    validation = await ws.receive_json()
    assert validation["success"], validation
    assert validation["result"] == {
        "energy_sources": [[], [], []],
        "device_consumption": [],
    }
