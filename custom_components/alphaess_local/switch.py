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
from .protocol import SETTINGS, Setting, SettingKind

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssSwitchEntityDescription(SwitchEntityDescription):
    """An on/off setting of the battery."""

    setting: Setting
    exists_fn: Callable[[BatteryState], bool] = heard


SWITCHES: tuple[AlphaEssSwitchEntityDescription, ...] = tuple(
    AlphaEssSwitchEntityDescription(
        key=setting.key, translation_key=setting.key, setting=setting
    )
    for setting in SETTINGS
    if setting.kind is SettingKind.SWITCH
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
        value = self.reported
        return None if value is None else bool(value)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the setting."""
        await self._async_change(value=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the setting."""
        await self._async_change(value=False)
