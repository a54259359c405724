"""The battery's device in Home Assistant: created when first heard, named short.

Entity ids derive from the device name and end up in logs and automations, and an
owner with several batteries must tell them apart without the whole serial.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .battery import BatteryState
from .const import DOMAIN
from .protocol import printable


def device_name(serial: str) -> str:
    """``AlphaESS 0042``: several batteries read apart, without the whole serial.

    Entity ids derive from it (``sensor.alphaess_0042_battery_power``), and they end up
    in logs and automations.
    """
    return f"AlphaESS {serial[-4:]}"


def battery_device(
    registry: dr.DeviceRegistry, entry_id: str, serial: str
) -> dr.DeviceEntry | None:
    """The battery's device in this entry.

    Looked up among the entry's own devices: identifiers are only unique per config
    entry in Home Assistant 2026 (the registry-wide lookup is deprecated there).
    """
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )


def update_device(hass: HomeAssistant, entry_id: str, state: BatteryState) -> None:
    """Create the battery's device when first heard; refresh it from reports."""
    report = state.report
    details: dict[str, Any] = {}
    if report is not None:
        # Only what the report knows: a missing field must not wipe a stored one.
        # The battery wrote these strings: escaped like anything else a peer says.
        details = {
            key: printable(value)
            for key, value in (
                ("model", report.battery_model),
                ("sw_version", report.ems_version),
                ("hw_version", report.inverter_hw_version),
            )
            if value
        }
    registry = dr.async_get(hass)
    if battery_device(registry, entry_id, state.serial) is None:
        details["name"] = device_name(state.serial)
    registry.async_get_or_create(
        config_entry_id=entry_id,
        identifiers={(DOMAIN, state.serial)},
        manufacturer="AlphaESS",
        serial_number=state.serial,
        **details,
    )
