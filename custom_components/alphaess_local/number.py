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
from .protocol import SystemReport
from .protocol.settings import CHARGE_STOP_SOC, DISCHARGE_CUTOFF_SOC

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssNumberEntityDescription(NumberEntityDescription):
    """A numeric setting and where the battery reports it."""

    setting: str
    value_fn: Callable[[SystemReport], float | None]
    exists_fn: Callable[[BatteryState], bool] = heard


NUMBERS: tuple[AlphaEssNumberEntityDescription, ...] = tuple(
    AlphaEssNumberEntityDescription(
        key=key,
        translation_key=key,
        setting=setting,
        value_fn=value_fn,
        native_min_value=0,
        native_max_value=100,
        native_step=1,
        native_unit_of_measurement=PERCENTAGE,
        mode=NumberMode.BOX,
    )
    for key, setting, value_fn in (
        ("charge_stop_soc", CHARGE_STOP_SOC, lambda r: r.charge_stop_soc),
        (
            "discharge_cutoff_soc",
            DISCHARGE_CUTOFF_SOC,
            lambda r: r.discharge_cutoff_soc,
        ),
    )
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
        report = self.battery.report
        return self.entity_description.value_fn(report) if report else None

    async def async_set_native_value(self, value: float) -> None:
        """Send the new limit (whole percent)."""
        await self._async_change({self.entity_description.setting: round(value)})
