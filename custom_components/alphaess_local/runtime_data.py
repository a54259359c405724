"""One config entry's parts, wired together once and typed for those who use them.

Platforms, services, repairs and diagnostics read what they need here (the batteries'
state, the control, the server's connection log) instead of reaching through the
coordinator into the server. The coordinator knows its source only as a
:class:`~.source.Source`; this is the one place that picks it: the cloud listener, or
the Modbus reader for an entry made to read the inverter (``CONF_SOURCE``). The
listener's parts are ``None`` for a Modbus entry, and whoever uses them copes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from .admission import BatteryAdmission
from .backfill import HistoryBackfill
from .battery import BatteryState
from .cloud_source import CloudSource
from .const import CONF_SOURCE, SOURCE_MODBUS
from .control import BatteryControl
from .coordinator import AlphaEssCoordinator
from .handover import async_take_totals
from .modbus_source import ModbusSource, async_load_decided
from .port_issues import PortIssues
from .protocol import AlphaServer, RelayPolicy
from .source import Capability

type AlphaEssConfigEntry = ConfigEntry[AlphaEssRuntimeData]


def is_modbus(entry: ConfigEntry) -> bool:
    """Whether the entry reads an inverter over Modbus (older entries listen)."""
    return bool(entry.data.get(CONF_SOURCE) == SOURCE_MODBUS)


@dataclass(frozen=True, kw_only=True)
class AlphaEssRuntimeData:
    """What a loaded entry holds: the coordinator, its source and their parts."""

    coordinator: AlphaEssCoordinator
    source: CloudSource | ModbusSource
    # The cloud listener's parts (``cloud_source.py``); None for a Modbus entry.
    server: AlphaServer | None
    admission: BatteryAdmission | None
    issues: PortIssues | None
    relay: RelayPolicy | None
    # The coordinator's parts that others act on.
    control: BatteryControl
    backfill: HistoryBackfill | None  # None: the source cannot ask for history

    @property
    def data(self) -> dict[str, BatteryState]:
        """Every battery the entry knows, by serial."""
        return self.coordinator.data

    @property
    def unavailable_after(self) -> float:
        """Seconds of silence after which a battery's entities are unavailable."""
        return self.coordinator.unavailable_after

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the source can feed beyond records (entities that need it)."""
        return self.source.capabilities


async def async_start_entry(
    hass: HomeAssistant, entry: ConfigEntry
) -> AlphaEssRuntimeData:
    """Build the entry's parts and start its source (``ConfigEntryNotReady`` if not)."""
    if is_modbus(entry):
        reader = ModbusSource(
            hass, entry, await async_load_decided(hass, entry.entry_id)
        )
        coordinator = AlphaEssCoordinator(hass, entry, reader)
        # The battery's totals from the listener's entry it replaces, if it had one
        # (the entry's own store, restored next, wins over them).
        if entry.unique_id and await async_take_totals(
            hass, entry.unique_id, coordinator.data
        ):
            coordinator.stored.save_soon(0)
        await coordinator.async_start()
        return AlphaEssRuntimeData(
            coordinator=coordinator,
            source=reader,
            server=None,
            admission=None,
            issues=None,
            relay=None,
            control=coordinator.control,
            backfill=coordinator.backfill,
        )

    def known() -> Collection[str]:
        # Looked up when a battery connects, after the coordinator exists.
        return coordinator.data.keys()

    source = CloudSource(hass, entry, known)
    coordinator = AlphaEssCoordinator(hass, entry, source)
    await coordinator.async_start()
    return AlphaEssRuntimeData(
        coordinator=coordinator,
        source=source,
        server=source.server,
        admission=source.admission,
        issues=source.issues,
        relay=source.relay_policy,
        control=coordinator.control,
        backfill=coordinator.backfill,
    )
