"""Numbers for the battery's SOC limits (opt-in control)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, heard
from .coordinator import AlphaEssConfigEntry
from .entity import AlphaEssSettingEntity, async_add_battery_entities, control_enabled
from .protocol import SETTINGS, Setting, SettingKind

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssNumberEntityDescription(NumberEntityDescription):
    """A percentage setting of the battery."""

    setting: Setting
    exists_fn: Callable[[BatteryState], bool] = heard


NUMBERS: tuple[AlphaEssNumberEntityDescription, ...] = tuple(
    AlphaEssNumberEntityDescription(
        key=setting.key,
        translation_key=setting.key,
        setting=setting,
        native_min_value=setting.minimum,
        native_max_value=setting.maximum,
        native_step=1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
    )
    for setting in SETTINGS
    if setting.kind is SettingKind.PERCENT
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the SOC limits when control is allowed."""
    if control_enabled(entry):
        async_add_battery_entities(entry, async_add_entities, NUMBERS, AlphaEssNumber)


class AlphaEssNumber(AlphaEssSettingEntity, NumberEntity):
    """Charge-stop or discharge-cutoff SOC, as the battery last reported it."""

    entity_description: AlphaEssNumberEntityDescription

    @property
    def native_value(self) -> float | None:
        """From the battery's latest report."""
        value = self.reported
        return None if value is None else float(value)

    async def async_set_native_value(self, value: float) -> None:
        """Send the new limit (whole percent)."""
        await self._async_change(round(value))
