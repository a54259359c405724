"""Times for the battery's charge and discharge windows (opt-in control).

The battery stores whole hours only; a time with minutes is refused with a message
saying so (the library's rule), rather than silently rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .protocol import SettingKind, SettingValue
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
class AlphaEssTimeEntityDescription(
    TimeEntityDescription, AlphaEssSettingEntityDescription[time]
):
    """One end of a charge or discharge window, held as a whole hour."""


def _hour(hour: SettingValue) -> time:
    return time(int(hour))


TIMES: tuple[AlphaEssTimeEntityDescription, ...] = tuple(
    AlphaEssTimeEntityDescription(**from_setting(setting, _hour))
    for setting in settings_of(SettingKind.HOUR)
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the window times when control is allowed."""
    async_add_setting_entities(entry, async_add_entities, TIMES, AlphaEssTime)


class AlphaEssTime(AlphaEssSettingEntity[time], TimeEntity):
    """A window boundary; the time is passed on whole so the library can refuse minutes."""

    entity_description: AlphaEssTimeEntityDescription

    @property
    def native_value(self) -> time | None:
        """From the battery's latest report."""
        return self.reported

    async def async_set_value(self, value: time) -> None:
        """Send the new hour; the battery cannot store minutes."""
        await self._async_change(value)
