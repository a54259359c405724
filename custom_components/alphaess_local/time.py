"""Times for the battery's charge and discharge windows (opt-in control).

The battery stores whole hours only; a time with minutes is refused with a message
saying so, rather than silently rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, heard
from .const import DOMAIN
from .coordinator import AlphaEssConfigEntry
from .entity import AlphaEssSettingEntity, async_add_battery_entities, control_enabled
from .protocol import SystemReport
from .protocol.settings import CHARGE_WINDOWS, DISCHARGE_WINDOWS

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssTimeEntityDescription(TimeEntityDescription):
    """One end of a charge or discharge window."""

    setting: str
    hour_fn: Callable[[SystemReport], int | None]
    placeholders: dict[str, str]
    exists_fn: Callable[[BatteryState], bool] = heard


def _hour(attribute: str) -> Callable[[SystemReport], int | None]:
    return lambda report: getattr(report, attribute)


def _windows() -> list[AlphaEssTimeEntityDescription]:
    descriptions = []
    for kind, windows, prefix in (
        ("charge", CHARGE_WINDOWS, "time_charge"),
        ("discharge", DISCHARGE_WINDOWS, "time_discharge"),
    ):
        for number, (start_key, end_key) in enumerate(windows, start=1):
            for end, setting in (("start", start_key), ("end", end_key)):
                descriptions.append(
                    AlphaEssTimeEntityDescription(
                        key=f"{kind}_window_{number}_{end}",
                        translation_key=f"{kind}_window_{end}",
                        setting=setting,
                        hour_fn=_hour(f"{prefix}_{end}{number}"),
                        placeholders={"window": str(number)},
                    )
                )
    return descriptions


TIMES: tuple[AlphaEssTimeEntityDescription, ...] = tuple(_windows())


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the window times when control is allowed."""
    if control_enabled(entry):
        async_add_battery_entities(entry, async_add_entities, TIMES, AlphaEssTime)


class AlphaEssTime(AlphaEssSettingEntity, TimeEntity):
    """A window boundary, in whole hours, as the battery last reported it."""

    entity_description: AlphaEssTimeEntityDescription

    @property
    def native_value(self) -> time | None:
        """From the battery's latest report."""
        report = self.battery.report
        hour = self.entity_description.hour_fn(report) if report else None
        return time(hour) if hour is not None and 0 <= hour <= 23 else None

    async def async_set_value(self, value: time) -> None:
        """Send the new hour; minutes cannot be stored by the battery."""
        if value.minute or value.second:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="whole_hours_only"
            )
        await self._async_change({self.entity_description.setting: value.hour})
