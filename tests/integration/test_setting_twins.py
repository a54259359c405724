"""With control on, each setting appears once: its switch or number, no read-only twin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.alphaess_local.const import CONF_ALLOW_CONTROL, DOMAIN
from custom_components.alphaess_local.reload import async_update_options

from .conftest import SERIAL, RecordedBattery


def registered(hass: HomeAssistant, platform: str, key: str) -> bool:
    registry = er.async_get(hass)
    return registry.async_get_entity_id(platform, DOMAIN, f"{SERIAL}_{key}") is not None


async def test_read_only_twins_leave_when_control_is_allowed(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert registered(hass, "sensor", "charge_stop_soc")
    assert registered(hass, "binary_sensor", "grid_charge")

    async_update_options(
        hass, loaded_entry, options={**loaded_entry.options, CONF_ALLOW_CONTROL: True}
    )
    await hass.async_block_till_done()
    assert not registered(hass, "sensor", "charge_stop_soc")
    assert not registered(hass, "sensor", "discharge_cutoff_soc")
    assert not registered(hass, "binary_sensor", "grid_charge")
