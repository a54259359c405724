"""Service actions: one tariff-friendly settings change for automations."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
import voluptuous as vol

from .const import DOMAIN
from .protocol import (
    CHARGE_STOP_SOC,
    GRID_CHARGING,
    WINDOWS,
    Requested,
    charge_window,
)
from .runtime_data import AlphaEssConfigEntry

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
        vol.Optional(ATTR_WINDOW, default=1): vol.In(WINDOWS),
        vol.Optional(ATTR_START): cv.time,
        vol.Optional(ATTR_END): cv.time,
        vol.Optional(ATTR_CHARGE_STOP_SOC): vol.All(
            vol.Coerce(int), vol.Range(CHARGE_STOP_SOC.minimum, CHARGE_STOP_SOC.maximum)
        ),
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
    for entry_id in _device_entries(device):
        entry: AlphaEssConfigEntry | None = hass.config_entries.async_get_entry(
            entry_id
        )
        if entry and entry.domain == DOMAIN and entry.state is ConfigEntryState.LOADED:
            return entry, serials[0]
    raise ServiceValidationError(
        translation_domain=DOMAIN, translation_key="device_not_found"
    )


async def _set_charge_schedule(call: ServiceCall) -> None:
    entry, serial = _battery(call.hass, call.data[ATTR_DEVICE_ID])
    start, end = charge_window(call.data[ATTR_WINDOW])
    fields = {
        ATTR_GRID_CHARGE: GRID_CHARGING,
        ATTR_START: start,
        ATTR_END: end,
        ATTR_CHARGE_STOP_SOC: CHARGE_STOP_SOC,
    }
    # Ranges and the whole-hours rule are the library's, checked by the control.
    changes: dict[str, Requested] = {
        setting.wire_key: call.data[field]
        for field, setting in fields.items()
        if field in call.data
    }
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


def _device_entries(device: dr.DeviceEntry) -> set[str]:
    """The config entries a device belongs to, asked the way the release wants.

    A device has one entry from Home Assistant 2026.x on (``config_entry_id``), which
    deprecates ``config_entries``; 2025.4 has only the latter.
    """
    if hasattr(device, "config_entry_id"):
        entry_id: str | None = device.config_entry_id
        return {entry_id} if entry_id is not None else set()
    return set(device.config_entries)
