"""Push coordinator: turns a source's events into the batteries' state.

There is nothing to poll. The entry's :class:`~.source.Source` (the cloud listener,
``cloud_source.py``) calls :meth:`AlphaEssCoordinator.handle_event` in Home
Assistant's event loop for every message; the coordinator hands each record to the
battery's :class:`BatteryState`, and the parts beside it do the rest: which entities
hear of it (``fan_out.py``), silence (``silence.py``), the device (``devices.py``),
the clock repair (``clock_issue.py``), what survives a restart (``entry_store.py``),
history (``backfill/``) and settings changes (``control.py``), the last two only
when the source can do them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .backfill import HistoryBackfill
from .battery import BatteryState, ClockVerdict, Part
from .clock_issue import keep_clock_issue
from .const import (
    CONF_ALLOW_CONTROL,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    LOGGER,
)
from .control import BatteryControl
from .devices import battery_device, device_name, update_device
from .entry_store import StoredState
from .fan_out import PARTS, Listening, PushFanOut
from .protocol import (
    CloudSettings,
    Corrupted,
    DetailedRecord,
    Disconnected,
    EventLog,
    HistoryUpload,
    RealtimeRecord,
    Received,
    ServerEvent,
    SystemReport,
    Undecodable,
    UnknownMessage,
    mask_serial,
)
from .silence import SilenceWatch
from .source import Source

__all__ = [
    "AlphaEssCoordinator",
    "Listening",
    "battery_device",
    "device_name",
]


class AlphaEssCoordinator(DataUpdateCoordinator[dict[str, BatteryState]]):
    """One per config entry (one listening port), any number of batteries."""

    config_entry: ConfigEntry

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, source: Source) -> None:
        """Turn ``source``'s events into state; nothing is delivered until started."""
        super().__init__(hass, LOGGER, config_entry=entry, name=DOMAIN)
        self.data = {}
        options = entry.options
        self.source = source
        self.stored = StoredState(hass, entry.entry_id, self.data, source.pins)
        self.silence = SilenceWatch(
            hass,
            self.data,
            60.0 * options.get(CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER),
            went_silent=self._went_silent,
        )
        self.fan_out = PushFanOut(hass, self.data, self._grown)
        # Batteries that gained data they did not have, in the update delivered now:
        # the only ones entity discovery looks at.
        self.grown: frozenset[str] = frozenset()
        # Without a way to ask for history, what a gap lost stays lost.
        self.backfill = (
            HistoryBackfill(hass, entry, source.history, self._history_filed)
            if source.history is not None
            else None
        )
        self.control = BatteryControl(
            source.settings,
            lambda serial: state.report if (state := self.data.get(serial)) else None,
            allowed=options.get(CONF_ALLOW_CONTROL, False),
            hass=hass,
        )

    @property
    def unavailable_after(self) -> float:
        """Seconds of silence after which a battery's entities are unavailable."""
        return self.silence.after

    async def async_start(self) -> None:
        """Restore stored state and start the source (it may not be ready)."""
        await self.stored.async_restore()
        self.source.expect(self.data)
        await self.source.start(
            self.handle_event,
            heard=any(state.last_seen for state in self.data.values()),
        )

    async def async_shutdown(self) -> None:
        """Stop the source, cancel timers, save what must survive a restart."""
        await super().async_shutdown()
        await self.source.stop()
        if self.backfill is not None:
            self.backfill.shutdown()
        self.silence.shutdown()
        await self.stored.async_save()

    @callback
    def forget(self, serial: str) -> None:
        """Drop a removed battery's state; it is re-created if the battery returns."""
        self.data.pop(serial, None)
        self.silence.forget(serial)
        self.source.forget(serial)
        self.stored.save_soon(10)

    # --- events from the source ---------------------------------------------------

    @callback
    def handle_event(self, event: ServerEvent) -> None:
        """Apply one of the source's events (called in the event loop)."""
        if isinstance(event, CloudSettings):
            self.control.cloud_settings(event.serial)
            return
        if event.serial is None:
            return
        state = self.data.get(event.serial)
        new_battery = state is None or state.last_seen is None
        if state is None:
            state = self.data[event.serial] = BatteryState(event.serial)
        link = (state.available, state.connected)
        part: Part | None = None
        match event:
            case Received(message=message):
                self._seen(state, event.received_at)
                self._apply(state, message, event.received_at, event.unpinned)
                part = PARTS.get(type(message))
            case Corrupted():
                state.counters["corrupt"] += 1  # shown in diagnostics only
                return
            case Disconnected():
                state.connected = False
                state.connected_since = None
                if self.backfill is not None:
                    self.backfill.disconnected(state)
        if isinstance(event, Received):
            if self.source.relay is not None:
                state.relay = self.source.relay.relay_stats.get(state.serial)
            if new_battery:
                self._battery_found(state)
        if new_battery or (state.available, state.connected) != link:
            part = None
        self.fan_out.schedule(state.serial, part)

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Entities listen to their own battery (:class:`Listening`, ``fan_out.py``).

        Listeners without that context (entity discovery) hear only of batteries that
        gained data (:attr:`grown`).
        """
        if isinstance(context, Listening):
            return self.fan_out.add(update_callback, context)
        return super().async_add_listener(update_callback, context)

    def _grown(self, serials: Iterable[str]) -> None:
        self.grown = frozenset(serials)
        self.async_update_listeners()

    @callback
    def _history_filed(self, state: BatteryState) -> None:
        self.stored.save_soon(10)
        self.fan_out.schedule(state.serial)

    def _went_silent(self, serial: str) -> None:
        self.fan_out.schedule(serial)

    def _apply(
        self,
        state: BatteryState,
        message: object,
        received_at: datetime,
        unpinned: bool,  # noqa: FBT001 - the event's flag, passed on as it is
    ) -> None:
        """Apply one message; one from a login not pinned moves no lifetime totals.

        Two logins compete for the serial until the owner chooses (``repairs.py``):
        its records are shown, but its totals and history wait for no one.
        """
        # A big history frame comes in slices (``more`` on all but its last): one frame.
        if not (isinstance(message, HistoryUpload) and message.more):
            state.counters["frames"] += 1
        match message:
            case RealtimeRecord() | DetailedRecord():
                self._apply_record(state, message, received_at, totals=not unpinned)
            case HistoryUpload() if unpinned:
                state.counters["rows_unpinned"] += len(message.rows)
            case HistoryUpload() if self.backfill is not None:
                self.backfill.rows_received(state, message.rows, more=message.more)
            case SystemReport():
                state.report = message
                self._update_device(state)
                self.control.report_received(state.serial, message)
            case EventLog() if state.apply_events(message.entries):
                self.stored.save_soon(10)
            case Undecodable():
                state.counters["undecodable"] += 1
            case UnknownMessage():
                state.counters["unknown"] += 1

    def _apply_record(
        self,
        state: BatteryState,
        record: RealtimeRecord | DetailedRecord,
        received_at: datetime,
        *,
        totals: bool,
    ) -> None:
        """Use a live record only if its timestamp fits the battery's clock.

        One that does not fit moves nothing, not even the gap detection: a single
        record stamped 2099 must neither freeze the sensors nor start a Resume.
        """
        if record.time is not None:
            if state.admit(record.time, received_at) is ClockVerdict.IGNORED:
                return
            if self.backfill is not None:
                self.backfill.record_seen(state, record.time)
            keep_clock_issue(self.hass, state)
        if isinstance(record, RealtimeRecord):
            state.apply_realtime(record, received_at)
        elif state.apply_detail(record, received_at, totals=totals) and totals:
            self.stored.save_soon(60)

    def _seen(self, state: BatteryState, when: datetime) -> None:
        state.last_seen = when
        if not state.connected:
            state.connected_since = when
        state.connected = True
        if not state.available:
            LOGGER.info("Battery %s is sending again", mask_serial(state.serial))
            state.available = True
        self.silence.heard(state.serial)

    def _battery_found(self, state: BatteryState) -> None:
        LOGGER.info("Battery %s connected", mask_serial(state.serial))
        self.source.expect(self.data)
        self._update_device(state)

    def _update_device(self, state: BatteryState) -> None:
        update_device(self.hass, self.config_entry.entry_id, state)
