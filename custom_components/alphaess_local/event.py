"""The battery's event log as an event entity: each entry fires once, ever.

The battery resends its whole log on every connection; :class:`BatteryState` keeps the
newest entry seen (persisted across restarts) and queues only what is newer.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .battery import BatteryState, Part, heard
from .entity import (
    AlphaEssEntity,
    AlphaEssEntityDescription,
    async_add_battery_entities,
)
from .runtime_data import AlphaEssConfigEntry
from .source import Capability

PARALLEL_UPDATES = 0
EVENT_TYPE = "logged"


@dataclass(frozen=True, kw_only=True)
class AlphaEssEventEntityDescription(EventEntityDescription, AlphaEssEntityDescription):
    """The event log entity, present once the battery has been heard."""


EVENT_LOG = AlphaEssEventEntityDescription(
    key="event_log",
    translation_key="event_log",
    event_types=[EVENT_TYPE],
    exists_fn=heard,
    # New entries come only with the battery's event log.
    reads=Part.EVENTS,
    # Modbus has no event log.
    requires=Capability.EVENT_LOG,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the event log entity of every battery once it is heard."""
    async_add_battery_entities(
        entry,
        async_add_entities,
        (EVENT_LOG,),
        AlphaEssEventLog,
    )


class AlphaEssEventLog(AlphaEssEntity, EventEntity):
    """Fires ``logged`` with the code and the battery's timestamp of each new entry."""

    entity_description: AlphaEssEventEntityDescription

    async def async_added_to_hass(self) -> None:
        """Fire what was queued before the entity existed."""
        await super().async_added_to_hass()
        self._fire_queued(self.battery)

    @callback
    def _handle_coordinator_update(self) -> None:
        self._fire_queued(self.battery)
        super()._handle_coordinator_update()

    def _fire_queued(self, state: BatteryState) -> None:
        # One state write per entry: an event entity's history is its state changes.
        while state.events:
            entry = state.events.popleft()
            self._trigger_event(
                EVENT_TYPE,
                {"code": entry.code, "battery_time": entry.timestamp.isoformat()},
            )
            self.async_write_ha_state()
            self._last_shown = self._shown()
