"""Binary sensors: connected, reporting a fault, grid charging, cloud relay connected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, Part, PartValue, from_record, heard
from .entity import (
    AlphaEssEntity,
    AlphaEssEntityDescription,
    async_add_battery_entities,
    without_mirrors,
)
from .runtime_data import AlphaEssConfigEntry
from .source import Capability

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class AlphaEssBinarySensorEntityDescription(
    BinarySensorEntityDescription, AlphaEssEntityDescription
):
    """A yes/no fact about a battery, with the attributes that go with it."""

    value_fn: Callable[[BatteryState], bool | None]
    exists_fn: Callable[[BatteryState], bool]
    attributes_fn: Callable[[BatteryState], dict[str, int] | None] = lambda _: None
    always_available: bool = False

    @property
    def shown_by(self) -> Callable[[BatteryState], object]:
        """The state and the attributes that go with it."""
        is_on, attributes = self.value_fn, self.attributes_fn
        return lambda state: (is_on(state), attributes(state))


BINARY_SENSORS: tuple[AlphaEssBinarySensorEntityDescription, ...] = (
    AlphaEssBinarySensorEntityDescription(
        key="cloud_relay",
        translation_key="cloud_relay",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.relay is not None and state.relay.connected,
        # Only while the owner has the relay on (docs: Cloud relay).
        exists_fn=lambda state: state.relay is not None,
        requires=Capability.RELAY,
        always_available=True,
    ),
    AlphaEssBinarySensorEntityDescription(
        key="connected",
        translation_key="connected",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.connected and state.available,
        exists_fn=heard,
        # Saying "disconnected" is the point of this sensor: it never goes unavailable.
        always_available=True,
    ),
    AlphaEssBinarySensorEntityDescription(
        key="fault",
        translation_key="fault",
        device_class=BinarySensorDeviceClass.PROBLEM,
        value_fn=PartValue(Part.DETAIL, lambda state: bool(state.errors)),
        exists_fn=lambda state: state.detail is not None,
        # The codes behind a fault, so the user can look them up.
        attributes_fn=lambda state: state.errors,  # from the same detailed record
    ),
    AlphaEssBinarySensorEntityDescription(
        key="grid_charge",
        translation_key="grid_charge",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=from_record(Part.REPORT, lambda report: report.grid_charge),
        exists_fn=lambda state: state.report is not None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add binary sensors for every battery as its data appears."""
    # With control on, grid charging is the switch; no read-only twin.
    async_add_battery_entities(
        entry,
        async_add_entities,
        without_mirrors(hass, entry, "binary_sensor", BINARY_SENSORS, {"grid_charge"}),
        AlphaEssBinarySensor,
    )


class AlphaEssBinarySensor(AlphaEssEntity, BinarySensorEntity):
    """A battery fact."""

    entity_description: AlphaEssBinarySensorEntityDescription

    @property
    def available(self) -> bool:
        """Connectivity stays available; the rest follow the battery."""
        return self.entity_description.always_available or super().available

    @property
    def is_on(self) -> bool | None:
        """Current value."""
        return self.entity_description.value_fn(self.battery)

    def _value(self) -> object:
        return self.is_on

    @property
    def extra_state_attributes(self) -> dict[str, int] | None:
        """What the description says goes with the state (a fault's codes)."""
        return self.entity_description.attributes_fn(self.battery)
