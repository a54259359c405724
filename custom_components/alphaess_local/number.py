"""Numbers for the battery's SOC limits (opt-in control)."""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.number import (
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import PERCENTAGE
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
class AlphaEssNumberEntityDescription(
    NumberEntityDescription, AlphaEssSettingEntityDescription[float]
):
    """A percentage setting of the battery."""


NUMBERS: tuple[AlphaEssNumberEntityDescription, ...] = tuple(
    AlphaEssNumberEntityDescription(
        **from_setting(setting, float),
        native_min_value=setting.minimum,
        native_max_value=setting.maximum,
        native_step=1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
    )
    for setting in settings_of(SettingKind.PERCENT)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the SOC limits when control is allowed."""
    async_add_setting_entities(entry, async_add_entities, NUMBERS, AlphaEssNumber)


class AlphaEssNumber(AlphaEssSettingEntity[float], NumberEntity):
    """Charge-stop or discharge-cutoff SOC; Home Assistant's numbers are floats."""

    entity_description: AlphaEssNumberEntityDescription

    @property
    def native_value(self) -> float | None:
        """From the battery's latest report."""
        return self.reported

    async def async_set_native_value(self, value: float) -> None:
        """Send the new limit (whole percent)."""
        await self._async_change(round(value))
