"""Times for the battery's charge and discharge windows (opt-in control).

The battery stores whole hours only; a time with minutes is refused with a message
saying so (the library's rule), rather than silently rounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, heard
from .coordinator import AlphaEssConfigEntry
from .entity import AlphaEssSettingEntity, async_add_battery_entities, control_enabled
from .protocol import SETTINGS, Setting, SettingKind

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssTimeEntityDescription(TimeEntityDescription):
    """One end of a charge or discharge window."""

    setting: Setting
    placeholders: dict[str, str]
    exists_fn: Callable[[BatteryState], bool] = heard


TIMES: tuple[AlphaEssTimeEntityDescription, ...] = tuple(
    AlphaEssTimeEntityDescription(
        key=setting.key,
        # "Charge window {window} start": one translation for both windows.
        translation_key=setting.key.replace(f"_{setting.window}_", "_"),
        setting=setting,
        placeholders={"window": str(setting.window)},
    )
    for setting in SETTINGS
    if setting.kind is SettingKind.HOUR
)


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
        hour = self.reported
        return None if hour is None else time(int(hour))

    async def async_set_value(self, value: time) -> None:
        """Send the new hour; the battery cannot store minutes."""
        await self._async_change(value)
