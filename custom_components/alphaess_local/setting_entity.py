"""One base for the battery's settings, whatever platform shows them.

A setting is read from the battery's latest system report and changed through
SetConfig, and exists only while the user allows control, whether Home Assistant
shows it as a switch, a number or a time. Keeping that here, and deriving each
entity's key and name from the settings table, lets a new setting be one row in
``protocol/settings.py`` and leaves a platform file only what its platform does
differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from homeassistant.const import EntityCategory
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, Part, heard
from .coordinator import AlphaEssConfigEntry, AlphaEssCoordinator
from .entity import AlphaEssEntity, async_add_battery_entities, control_enabled
from .protocol import SETTINGS, Requested, Setting, SettingKind, SettingValue


@dataclass(frozen=True, kw_only=True)
class AlphaEssSettingEntityDescription[V](EntityDescription):
    """What every setting entity needs besides its platform's own fields.

    ``value_fn`` is where platforms differ in what they show: the battery's value
    (``True``, ``80.0``, ``2``) as the platform's type (on/off, a number, a time).
    """

    setting: Setting
    value_fn: Callable[[SettingValue], V]
    exists_fn: Callable[[BatteryState], bool] = heard
    placeholders: dict[str, str] | None = None


class SettingFields(TypedDict):
    """The description fields the settings table decides, for ``**`` in a call."""

    key: str
    translation_key: str
    placeholders: dict[str, str] | None
    setting: Setting


def settings_of(kind: SettingKind) -> tuple[Setting, ...]:
    """The settings one platform shows, in the table's order."""
    return tuple(setting for setting in SETTINGS if setting.kind is kind)


def from_setting(setting: Setting) -> SettingFields:
    """Key, translation and placeholders of the entity for ``setting``.

    The entity key is the setting's stable key; the ends of the numbered windows
    share one translation ("Charge window {window} start") with the number as a
    placeholder.
    """
    if setting.window is None:
        return SettingFields(
            key=setting.key,
            translation_key=setting.key,
            placeholders=None,
            setting=setting,
        )
    return SettingFields(
        key=setting.key,
        translation_key=setting.key.replace(f"_{setting.window}_", "_"),
        placeholders={"window": str(setting.window)},
        setting=setting,
    )


class AlphaEssSettingEntity[V](AlphaEssEntity):
    """A battery setting: shows the latest report, changes go through SetConfig.

    What it shows is only ever what the battery reported, never what was sent: a
    change the battery did not take must not look as if it had.
    """

    _attr_entity_category = EntityCategory.CONFIG
    entity_description: AlphaEssSettingEntityDescription[V]

    @classmethod
    def part_read(cls, description: EntityDescription) -> Part | None:
        """Settings come in system reports."""
        return Part.REPORT

    @property
    def available(self) -> bool:
        """Only with a system report to build a change on."""
        return super().available and self.battery.report is not None

    @property
    def reported(self) -> V | None:
        """The setting in the battery's latest report, as the platform shows it."""
        report = self.battery.report
        if report is None:
            return None
        value = self.entity_description.setting.read(report.raw)
        return None if value is None else self.entity_description.value_fn(value)

    async def _async_change(self, value: Requested) -> None:
        """Set this entity's setting; on failure the state shows what the battery reports."""
        user_id = self._context.user_id if self._context else None
        changes = {self.entity_description.setting.wire_key: value}
        try:
            await self.coordinator.control.async_apply(self.serial, changes, user_id)
        finally:
            self.async_write_ha_state()


def async_add_setting_entities[D: AlphaEssSettingEntityDescription[Any]](
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Sequence[D],
    factory: Callable[[AlphaEssCoordinator, str, D], AlphaEssEntity],
) -> None:
    """Add one platform's settings for every battery, if the user allows control."""
    if control_enabled(entry):
        async_add_battery_entities(entry, async_add_entities, descriptions, factory)
