"""Reading the inverter over Modbus TCP as a :class:`~.source.Source`.

For owners whose firmware encrypts its cloud link, or who would rather not touch their
DNS: Home Assistant asks the inverter (port 502, unit 85) instead of waiting for the
battery to push. The library's :class:`ModbusReader` does the asking (one connection,
one request at a time, a live poll in at most four block reads) and hands over the
same events the cloud listener does, with the same records in them, so the
coordinator, the plausibility rules and the entities are the ones the cloud link uses.
What Modbus cannot give (the battery's event log, buffered history, the relay, a
login to pin) is missing here, and the entities that would show it are not created
(:attr:`capabilities`). The link's own news (another client holds the inverter's one
slot, no answer for long) becomes repairs (``modbus_issues.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store

from .const import (
    CONF_POLL_INTERVAL,
    CONF_UNIT,
    DEFAULT_MODBUS_PORT,
    DEFAULT_MODBUS_UNIT,
    DEFAULT_POLL_INTERVAL,
    DOMAIN,
    STORAGE_VERSION,
)
from .modbus_issues import ModbusIssues
from .protocol import (
    LinkRestored,
    LinkTrouble,
    ModbusReader,
    Received,
    ServerEvent,
    Trouble,
)
from .source import (
    Capability,
    EventCallback,
    HistoryRequests,
    PinHolder,
    RelayCounts,
    SettingsChannel,
)

# How long one block read may take before the link counts as dead (and is reset).
REQUEST_TIMEOUT: Final = 5.0
# Seconds a newly decided scale waits before it is written (decisions come in bursts).
DECIDED_SAVE_DELAY: Final = 10.0


def decided_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the scales the register map decided for the inverter outlive a restart.

    The PV total's scale needs hours of sun to decide; without it kept, the PV
    energy sensor would wait for them again after every restart.
    """
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.modbus")


async def async_load_decided(hass: HomeAssistant, entry_id: str) -> dict[str, float]:
    """The scales decided before (for :class:`ModbusSource`), empty at first."""
    stored = await decided_store(hass, entry_id).async_load() or {}
    decided = stored.get("decided")
    if not isinstance(decided, dict):
        return {}
    return {
        str(name): float(scale)
        for name, scale in decided.items()
        if isinstance(scale, int | float)
    }


class ModbusSource:
    """One entry's reader: Home Assistant polls one inverter over Modbus TCP."""

    # Nothing of what the cloud link has beyond the records (``source.py``).
    history: HistoryRequests | None = None
    relay: RelayCounts | None = None
    pins: PinHolder | None = None
    # Control over Modbus comes later (issue #32's second wave): the reader will be it.
    settings: SettingsChannel | None = None
    capabilities: frozenset[Capability] = frozenset()

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        decided: Mapping[str, float] | None = None,
    ) -> None:
        """Prepare the reader from the entry's data and options; nothing is read yet.

        ``decided``: the scales decided before (:func:`async_load_decided`).
        """
        self._hass = hass
        self.host: str = entry.data[CONF_HOST]
        self.port: int = entry.data.get(CONF_PORT, DEFAULT_MODBUS_PORT)
        self.unit: int = entry.data.get(CONF_UNIT, DEFAULT_MODBUS_UNIT)
        self.interval = float(
            entry.options.get(CONF_POLL_INTERVAL, DEFAULT_POLL_INTERVAL)
        )
        self.reader = ModbusReader(
            self._reader_event,
            host=self.host,
            port=self.port,
            unit=self.unit,
            interval=self.interval,
            request_timeout=REQUEST_TIMEOUT,
            decided=decided,
        )
        self._store = decided_store(hass, entry.entry_id)
        self._decided = dict(decided or {})
        self._unsaved = False
        self.issues = ModbusIssues(
            hass, entry.entry_id, entry.title, f"{self.host}:{self.port}"
        )
        self._on_event: EventCallback | None = None
        # The inverter the flow read: another one at the address is not this entry's.
        self.serial: str | None = entry.unique_id

    @property
    def connected_serials(self) -> frozenset[str]:
        """The inverter, while the link to it is up."""
        return self.reader.connected_serials

    async def start(self, on_event: EventCallback, *, heard: bool) -> None:
        """Start polling; an inverter out of reach is the repairs' story, not setup's.

        The reader never raises for the link: it reconnects with backoff, and the
        entities stay unavailable until it answers, as a silent battery's do.
        """
        self._on_event = on_event
        await self.reader.start()

    async def stop(self) -> None:
        """Close the link with a reset, so the inverter frees its one slot at once."""
        self._on_event = None
        await self.reader.close()
        self.issues.shutdown()
        if self._decided_changed() or self._unsaved:
            # Now, not on the delayed save's timer: the entry may be going for good.
            await self._store.async_save(self._stored())

    def expect(self, batteries: Collection[str]) -> None:
        """One inverter per entry: nothing to make room for."""

    def forget(self, serial: str) -> None:
        """Nothing is kept per battery here."""

    @callback
    def _reader_event(self, event: ServerEvent | LinkTrouble | LinkRestored) -> None:
        """The link's news becomes repairs; the battery's goes to the coordinator."""
        if isinstance(event, LinkTrouble):
            if event.trouble is Trouble.SLOT_TAKEN:
                self.issues.slot_taken()
            self.issues.not_answering()
            return
        serial = event.serial
        if self.serial is not None and serial is not None and serial != self.serial:
            # Its records would make a second device in this entry: told, not shown.
            self.issues.other_inverter(serial)
            return
        if isinstance(event, LinkRestored | Received):
            self.issues.answered()
        if isinstance(event, Received) and self._decided_changed():
            self._unsaved = True
            self._store.async_delay_save(self._stored, DECIDED_SAVE_DELAY)
        if isinstance(event, LinkRestored):
            return
        if self._on_event is not None:
            self._on_event(event)

    def _decided_changed(self) -> bool:
        """Whether the map decided (or, for another inverter, dropped) a scale."""
        decided = dict(self.reader.registers.decided)
        if decided == self._decided:
            return False
        self._decided = decided
        return True

    def _stored(self) -> dict[str, Any]:
        self._unsaved = False
        return {"decided": self._decided}
