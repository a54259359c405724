"""Service actions: one tariff-friendly settings change for automations."""

from __future__ import annotations

from datetime import time

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from .const import DOMAIN
from .coordinator import AlphaEssConfigEntry
from .protocol.settings import (
    CHARGE_STOP_SOC,
    CHARGE_WINDOWS,
    GRID_CHARGE,
    SettingValue,
)

SERVICE_SET_CHARGE_SCHEDULE = "set_charge_schedule"
ATTR_DEVICE_ID = "device_id"
ATTR_GRID_CHARGE = "grid_charge"
ATTR_WINDOW = "window"
ATTR_START = "start"
ATTR_END = "end"
ATTR_CHARGE_STOP_SOC = "charge_stop_soc"

SET_CHARGE_SCHEDULE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_DEVICE_ID): cv.string,
        vol.Optional(ATTR_GRID_CHARGE): cv.boolean,
        vol.Optional(ATTR_WINDOW, default=1): vol.In([1, 2]),
        vol.Optional(ATTR_START): cv.time,
        vol.Optional(ATTR_END): cv.time,
        vol.Optional(ATTR_CHARGE_STOP_SOC): vol.All(vol.Coerce(int), vol.Range(0, 100)),
    }
)


def _battery(hass: HomeAssistant, device_id: str) -> tuple[AlphaEssConfigEntry, str]:
    device = dr.async_get(hass).async_get(device_id)
    serials = (
        [ident for domain, ident in device.identifiers if domain == DOMAIN]
        if device
        else []
    )
    if device is None or not serials:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="device_not_found"
        )
    for entry_id in device.config_entries:
        entry: AlphaEssConfigEntry | None = hass.config_entries.async_get_entry(
            entry_id
        )
        if entry and entry.domain == DOMAIN and entry.state is ConfigEntryState.LOADED:
            return entry, serials[0]
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key="device_not_found"
    )


def _whole_hour(value: time) -> int:
    if value.minute or value.second:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="whole_hours_only"
        )
    return value.hour


async def _set_charge_schedule(call: ServiceCall) -> None:
    entry, serial = _battery(call.hass, call.data[ATTR_DEVICE_ID])
    start_key, end_key = CHARGE_WINDOWS[call.data[ATTR_WINDOW] - 1]
    changes: dict[str, SettingValue] = {}
    if ATTR_GRID_CHARGE in call.data:
        changes[GRID_CHARGE] = call.data[ATTR_GRID_CHARGE]
    if ATTR_START in call.data:
        changes[start_key] = _whole_hour(call.data[ATTR_START])
    if ATTR_END in call.data:
        changes[end_key] = _whole_hour(call.data[ATTR_END])
    if ATTR_CHARGE_STOP_SOC in call.data:
        changes[CHARGE_STOP_SOC] = call.data[ATTR_CHARGE_STOP_SOC]
    if not changes:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="nothing_to_change"
        )
    await entry.runtime_data.control.async_apply(serial, changes, call.context.user_id)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register ``alphaess_local.set_charge_schedule``."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_SET_CHARGE_SCHEDULE,
        _set_charge_schedule,
        schema=SET_CHARGE_SCHEDULE_SCHEMA,
    )
