"""AlphaESS Local: answer an AlphaESS battery in the cloud's place, inside Home Assistant.

The battery connects to ``www.alphaess.com:7777``; the user points that name at Home
Assistant and this integration listens on the port, decodes what the battery pushes and
turns it into devices and entities. Nothing leaves the house.
"""

from __future__ import annotations

import asyncio

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .cloud_source import async_forget_connection_log
from .const import DOMAIN
from .handover import async_leave_totals
from .modbus_source import decided_store
from .runtime_data import AlphaEssConfigEntry, async_start_entry
from .services import async_setup_services
from .tls_store import async_remove_tls_identity

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.EVENT,
    Platform.NUMBER,
    Platform.SENSOR,
    Platform.SWITCH,
    Platform.TIME,
]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

__all__ = ["DOMAIN"]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the service actions (they exist even before a battery is heard)."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: AlphaEssConfigEntry) -> bool:
    """Start listening for batteries on the entry's port.

    A setup that fails or is cancelled once the listener runs (Home Assistant
    stopping during a reload) releases the port: nothing else would close it, and a
    retry would find it taken.
    """
    runtime_data = await async_start_entry(hass, entry)
    try:
        entry.runtime_data = runtime_data
        await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    except BaseException:
        await asyncio.shield(runtime_data.coordinator.async_shutdown())
        raise
    return True


async def async_unload_entry(hass: HomeAssistant, entry: AlphaEssConfigEntry) -> bool:
    """Stop listening and release the port."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.coordinator.async_shutdown()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: AlphaEssConfigEntry) -> None:
    """Take the entry's repair issues, certificate and connection log with it.

    Its batteries' lifetime totals stay behind for an entry that reads them next
    (``handover.py``): moving a battery from the cloud link to Modbus.
    """
    await async_leave_totals(hass, entry.entry_id)
    await decided_store(hass, entry.entry_id).async_remove()
    await async_remove_tls_identity(hass, entry.entry_id)
    async_forget_connection_log(hass, entry.entry_id)
    registry = ir.async_get(hass)
    serials = {
        ident
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        for domain, ident in device.identifiers
        if domain == DOMAIN
    }
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and (
            entry.entry_id in issue_id
            or any(issue_id.endswith(f"_{serial}") for serial in serials)
        ):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: AlphaEssConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a battery that is gone; a connected one would come back."""
    connected = entry.runtime_data.source.connected_serials
    serials = {ident for domain, ident in device.identifiers if domain == DOMAIN}
    if serials & connected:
        return False
    for serial in serials:
        entry.runtime_data.coordinator.forget(serial)
    return True
