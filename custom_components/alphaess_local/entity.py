"""Common base of every entity: one battery, one description, push updates."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .battery import BatteryState, Part, heard, part_of
from .const import DOMAIN, unique_id
from .coordinator import AlphaEssCoordinator, Listening
from .runtime_data import AlphaEssConfigEntry
from .source import Capability


@dataclass(frozen=True, kw_only=True)
class AlphaEssEntityDescription(EntityDescription):
    """What every entity of a battery is described by, whatever its platform.

    The entity's listener context (:class:`Listening`) comes from here alone: which
    record part it reads and what it shows, so a push of another part, or one that
    leaves the value as it was, does not call it.
    """

    exists_fn: Callable[[BatteryState], bool] = heard
    """Whether the battery has sent the data behind the entity yet.

    It may only depend on what :attr:`BatteryState.shape` covers: discovery looks
    again when that changes, not on every push.
    """
    value_fn: Callable[[BatteryState], Any] | None = None
    """The entity's value from the battery's state; ``None``: it has none of its own."""
    reads: Part | None = None
    """The record part the entity reads when ``value_fn`` does not say (``PartValue``).

    ``None`` and a ``value_fn`` that reads no single part: every push calls it.
    """
    requires: Capability | None = None
    """What the entry's source must be able to feed for the entity to exist at all.

    The battery's event log or the cloud relay, which a Modbus reader has not: such
    entities are not created, rather than left "unknown" for good.
    """

    @property
    def part_read(self) -> Part | None:
        """The one record part the entity's state comes from; ``None``: any push."""
        return self.reads or part_of(self.value_fn)

    @property
    def shown_by(self) -> Callable[[BatteryState], object] | None:
        """What the entity shows besides availability, from the battery's state alone.

        ``None``: the entity cannot say (it is asked on every push it listens to).
        """
        return self.value_fn


class AlphaEssEntity(CoordinatorEntity[AlphaEssCoordinator]):
    """An entity of one battery, identified by its serial."""

    _attr_has_entity_name = True
    entity_description: AlphaEssEntityDescription

    def __init__(
        self,
        coordinator: AlphaEssCoordinator,
        serial: str,
        description: AlphaEssEntityDescription,
    ) -> None:
        """Bind the entity to battery ``serial``; the coordinator made its device."""
        # Only this battery's pushes, and of those only the ones of the record part
        # the entity reads (if it reads one), reach the entity.
        self._shows = description.shown_by
        super().__init__(
            coordinator,
            context=Listening(
                serial,
                description.part_read,
                self._shows,
                self._show if self._shows is not None else None,
            ),
        )
        self.serial = serial
        self._last_shown: tuple[bool, object] | None = None
        self.entity_description = description
        self._attr_unique_id = unique_id(serial, description.key)
        self._attr_device_info = DeviceInfo(identifiers={(DOMAIN, serial)})

    @property
    def battery(self) -> BatteryState:
        """The battery's current state."""
        return self.coordinator.data[self.serial]

    async def async_added_to_hass(self) -> None:
        """Remember what the first state write (done when added) showed."""
        await super().async_added_to_hass()
        self._last_shown = self._shown()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write state only for this battery's pushes, and only when it shows change.

        A push from one battery does not touch another's entities, and a push that
        leaves what an entity shows (state, availability, attributes) as it was
        writes nothing: Home Assistant would do the work of a write for nothing.
        """
        shown = self._shown()
        if shown == self._last_shown:
            return
        self._last_shown = shown
        self.async_write_ha_state()

    @callback
    def _show(self, shown: object) -> None:
        """The coordinator saw what the entity shows move, on a push of its part.

        Such a push leaves availability as it was (one that may change it calls
        :meth:`_handle_coordinator_update`), so the value it worked out is the
        state to write, without asking the battery again.
        """
        if self._last_shown == (last := (True, shown)):
            return
        self._last_shown = last
        self.async_write_ha_state()

    def _shown(self) -> tuple[bool, object]:
        """What a state write would carry; compared before writing."""
        if not self.available:
            return (False, None)
        if self._shows is not None:
            return (True, self._shows(self.battery))
        return (True, (self._value(), self.extra_state_attributes))

    def _value(self) -> object:
        """What the state is computed from: the platform's native value, cheaply.

        Home Assistant's ``state`` (unit conversion, formatting) is a pure function of
        it, so comparing this is enough, and ten times cheaper per entity.
        """
        return self.state

    @property
    def available(self) -> bool:
        """Unavailable once the battery has been silent for the configured time."""
        return self.battery.available and self.battery.last_seen is not None


def control_enabled(entry: AlphaEssConfigEntry) -> bool:
    """Setting entities exist only when the user allowed control."""
    return entry.runtime_data.control.allowed


def without_mirrors[D: AlphaEssEntityDescription](
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    platform: str,
    descriptions: Sequence[D],
    mirrors: Collection[str],
) -> list[D]:
    """The descriptions to add, leaving out read-only twins of settings under control.

    With control on, a setting is its switch or number; the read-only sensor that
    showed it before is removed from the registry too, not left as "not provided".
    """
    if not control_enabled(entry):
        return list(descriptions)
    registry = er.async_get(hass)
    for serial in entry.runtime_data.data:
        for key in mirrors:
            if entity_id := registry.async_get_entity_id(
                platform, DOMAIN, unique_id(serial, key)
            ):
                registry.async_remove(entity_id)
    return [d for d in descriptions if d.key not in mirrors]


def async_add_battery_entities[D: AlphaEssEntityDescription](
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
    coordinator = entry.runtime_data.coordinator
    capabilities = entry.runtime_data.capabilities
    descriptions = [
        d for d in descriptions if d.requires is None or d.requires in capabilities
    ]
    # Per battery, the descriptions whose data has not come yet: only those are
    # looked at again, and only for the batteries that just sent something.
    waiting: dict[str, list[D]] = {}

    def _add(serials: Iterable[str]) -> None:
        new: list[AlphaEssEntity] = []
        for serial in serials:
            state = coordinator.data.get(serial)
            if state is None:
                continue
            pending = waiting.setdefault(serial, list(descriptions))
            if not pending:
                continue
            ready = [d for d in pending if d.exists_fn(state)]
            if not ready:
                continue
            waiting[serial] = [d for d in pending if d not in ready]
            new += [factory(coordinator, serial, d) for d in ready]
        if new:
            async_add_entities(new)

    @callback
    def _add_new() -> None:
        _add(coordinator.grown)

    _add(list(coordinator.data))
    entry.async_on_unload(coordinator.async_add_listener(_add_new))
