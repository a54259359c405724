"""Times for the battery's charge and discharge windows (opt-in control).

Over the cloud link the battery stores whole hours only; a time with minutes is
refused with a message saying so (the library's rule), rather than silently rounded.
Over Modbus a window end has its minute too, and the time is shown and set with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from homeassistant.components.time import TimeEntity, TimeEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import Part, from_record
from .protocol import Setting, SettingKind, SystemReport
from .runtime_data import AlphaEssConfigEntry
from .setting_entity import (
    AlphaEssSettingEntity,
    AlphaEssSettingEntityDescription,
    SettingFields,
    async_add_setting_entities,
    from_setting,
    settings_of,
)

PARALLEL_UPDATES = 1


@dataclass(frozen=True, kw_only=True)
class AlphaEssTimeEntityDescription(
    TimeEntityDescription, AlphaEssSettingEntityDescription[time]
):
    """One end of a charge or discharge window: an hour, and a minute over Modbus."""


def _time_fields(setting: Setting) -> SettingFields[time]:
    """The setting's fields, its value the report's time with any minute it holds."""

    def reported(report: SystemReport) -> time | None:
        return setting.read_time(report.raw)

    fields = from_setting(setting, lambda hour: time(int(hour)))
    value_fn = from_record(Part.REPORT, reported)
    fields["value_fn"] = value_fn
    return fields


TIMES: tuple[AlphaEssTimeEntityDescription, ...] = tuple(
    AlphaEssTimeEntityDescription(**_time_fields(setting))
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
    """A window boundary; the time is passed on whole for the library to judge.

    The library refuses minutes where the source holds whole hours only.
    """

    entity_description: AlphaEssTimeEntityDescription

    @property
    def native_value(self) -> time | None:
        """From the battery's latest report."""
        return self.reported

    async def async_set_value(self, value: time) -> None:
        """Send the new time; minutes only where the source holds them."""
        await self._async_change(value)
