"""Switches for the battery's on/off settings (opt-in control)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, heard
from .coordinator import AlphaEssConfigEntry
from .entity import AlphaEssSettingEntity, async_add_battery_entities, control_enabled
from .protocol import SystemReport
from .protocol.settings import DISCHARGE_CONTROL, GRID_CHARGE

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssSwitchEntityDescription(SwitchEntityDescription):
    """An on/off setting and where the battery reports it."""

    setting: str
    is_on_fn: Callable[[SystemReport], bool | None]
    exists_fn: Callable[[BatteryState], bool] = heard


SWITCHES: tuple[AlphaEssSwitchEntityDescription, ...] = (
    AlphaEssSwitchEntityDescription(
        key="grid_charging",
        translation_key="grid_charging",
        setting=GRID_CHARGE,
        is_on_fn=lambda report: report.grid_charge,
    ),
    AlphaEssSwitchEntityDescription(
        key="discharge_control",
        translation_key="discharge_control",
        setting=DISCHARGE_CONTROL,
        is_on_fn=lambda report: report.discharge_control,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches when control is allowed."""
    if control_enabled(entry):
        async_add_battery_entities(entry, async_add_entities, SWITCHES, AlphaEssSwitch)


class AlphaEssSwitch(AlphaEssSettingEntity, SwitchEntity):
    """Grid charging or timed discharge, as the battery last reported it."""

    entity_description: AlphaEssSwitchEntityDescription

    @property
    def is_on(self) -> bool | None:
        """From the battery's latest report, never from what we sent."""
        report = self.battery.report
        return self.entity_description.is_on_fn(report) if report else None

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the setting."""
        await self._async_change({self.entity_description.setting: True})

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the setting."""
        await self._async_change({self.entity_description.setting: False})
