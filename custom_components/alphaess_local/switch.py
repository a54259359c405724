"""Switches for the battery's on/off settings (opt-in control)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .protocol import SettingKind
from .runtime_data import AlphaEssConfigEntry
from .setting_entity import (
    AlphaEssSettingEntity,
    AlphaEssSettingEntityDescription,
    async_add_setting_entities,
    from_setting,
    settings_of,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssSwitchEntityDescription(
    SwitchEntityDescription, AlphaEssSettingEntityDescription[bool]
):
    """An on/off setting of the battery."""


SWITCHES: tuple[AlphaEssSwitchEntityDescription, ...] = tuple(
    AlphaEssSwitchEntityDescription(**from_setting(setting, bool))
    for setting in settings_of(SettingKind.SWITCH)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches when control is allowed."""
    async_add_setting_entities(entry, async_add_entities, SWITCHES, AlphaEssSwitch)


class AlphaEssSwitch(AlphaEssSettingEntity[bool], SwitchEntity):
    """Grid charging or timed discharge: a switch has two commands, not a value."""

    entity_description: AlphaEssSwitchEntityDescription
    _settles = False

    @property
    def is_on(self) -> bool | None:
        """From the battery's latest report, never from what we sent."""
        return self.reported

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Enable the setting."""
        await self._async_change(value=True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Disable the setting."""
        await self._async_change(value=False)
