"""Common base of every entity: one battery, one description, push updates."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from homeassistant.const import EntityCategory
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .battery import BatteryState
from .const import DOMAIN
from .coordinator import AlphaEssConfigEntry, AlphaEssCoordinator
from .protocol.settings import SettingValue


class AlphaEssEntity(CoordinatorEntity[AlphaEssCoordinator]):
    """An entity of one battery, identified by its serial."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: AlphaEssCoordinator,
        serial: str,
        description: EntityDescription,
    ) -> None:
        """Bind the entity to battery ``serial``; the coordinator made its device.

        Descriptions that share a translation (``Module {module} …``) carry their
        ``placeholders``.
        """
        super().__init__(coordinator)
        self.serial = serial
        self.entity_description = description
        self._attr_unique_id = f"{serial}_{description.key}"
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, serial)})
        if placeholders := getattr(description, "placeholders", None):
            self._attr_translation_placeholders = placeholders

    @property
    def battery(self) -> BatteryState:
        """The battery's current state."""
        return self.coordinator.data[self.serial]

    @property
    def available(self) -> bool:
        """Unavailable once the battery has been silent for the configured time."""
        return self.battery.available and self.battery.last_seen is not None


class AlphaEssSettingEntity(AlphaEssEntity):
    """A battery setting: shows the latest report, changes go through SetConfig."""

    _attr_entity_category = EntityCategory.CONFIG

    @property
    def available(self) -> bool:
        """Only with a system report to build a change on."""
        return super().available and self.battery.report is not None

    async def _async_change(self, changes: Mapping[str, SettingValue]) -> None:
        """Apply ``changes``; on failure the state shows what the battery reports."""
        user_id = self._context.user_id if self._context else None
        try:
            await self.coordinator.control.async_apply(self.serial, changes, user_id)
        finally:
            self.async_write_ha_state()


def control_enabled(entry: AlphaEssConfigEntry) -> bool:
    """Setting entities exist only when the user allowed control."""
    return entry.runtime_data.control.allowed


class BatteryEntityDescription(Protocol):
    """What every description table of this integration provides."""

    @property
    def key(self) -> str:
        """Unique per battery."""

    @property
    def exists_fn(self) -> Callable[[BatteryState], bool]:
        """Whether the battery has sent the data behind the entity yet."""


def async_add_battery_entities[D: BatteryEntityDescription](
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Sequence[D],
    factory: Callable[[AlphaEssCoordinator, str, D], AlphaEssEntity],
) -> None:
    """Add each battery's entities as soon as the data behind them exists.

    A battery heard for the first time, a second battery joining, or a record type
    arriving later (the first detailed record comes minutes after the first realtime
    one) all add entities without a restart.
    """
    coordinator = entry.runtime_data
    added: set[tuple[str, str]] = set()

    @callback
    def _add_new() -> None:
        new: list[AlphaEssEntity] = []
        for serial, state in coordinator.data.items():
            for description in descriptions:
                key = description.key
                if (serial, key) in added or not description.exists_fn(state):
                    continue
                added.add((serial, key))
                new.append(factory(coordinator, serial, description))
        if new:
            async_add_entities(new)

    _add_new()
    entry.async_on_unload(coordinator.async_add_listener(_add_new))
