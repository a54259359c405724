"""Push coordinator: hosts the fake-cloud server and turns its events into state.

There is nothing to poll. The server calls :meth:`AlphaEssCoordinator.handle_event` in
Home Assistant's event loop for every message; the coordinator hands each record to
the battery's :class:`BatteryState`, and the parts beside it do the rest: which
entities hear of it (``fan_out.py``), silence (``silence.py``), the device
(``devices.py``), the clock and port repairs (``clock_issue.py``, ``port_issues.py``),
what survives a restart (``entry_store.py``), history (``backfill/``) and settings
changes (``control.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
import errno
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .admission import BatteryAdmission
from .backfill import HistoryBackfill
from .battery import BatteryState, ClockVerdict, Part
from .clock_issue import keep_clock_issue
from .const import (
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    CONNECTION_HEADROOM,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    DUMP_FILE,
    LOGGER,
)
from .control import BatteryControl
from .devices import battery_device, device_name, update_device
from .entry_store import StoredState
from .fan_out import PARTS, Listening, PushFanOut
from .port_issues import PortIssues
from .protocol import (
    DEFAULT_MAX_CONNECTIONS,
    AlphaServer,
    CloudSettings,
    Corrupted,
    CredentialsMismatch,
    DetailedRecord,
    Disconnected,
    EventLog,
    ForeignProtocol,
    HistoryUpload,
    RealtimeRecord,
    Received,
    ServerEvent,
    SystemReport,
    TrafficDump,
    Undecodable,
    UnknownMessage,
    mask_serial,
)
from .relay_options import relay_policy
from .silence import SilenceWatch

type AlphaEssConfigEntry = ConfigEntry[AlphaEssCoordinator]

__all__ = [
    "AlphaEssConfigEntry",
    "AlphaEssCoordinator",
    "Listening",
    "battery_device",
    "device_name",
]


class AlphaEssCoordinator(DataUpdateCoordinator[dict[str, BatteryState]]):
    """One per config entry (one listening port), any number of batteries."""

    config_entry: AlphaEssConfigEntry

    def __init__(self, hass: HomeAssistant, entry: AlphaEssConfigEntry) -> None:
        """Prepare the server from the entry's data and options; nothing listens yet."""
        super().__init__(hass, LOGGER, config_entry=entry, name=DOMAIN)
        self.data = {}
        options = entry.options
        dump = (
            TrafficDump(hass.config.path(DUMP_FILE)) if options.get(CONF_DUMP) else None
        )
        allowlist = options.get(CONF_ALLOWLIST) or ()
        self.relay = relay_policy(options)
        self.admission = BatteryAdmission(
            hass, entry.entry_id, allowlist, known=lambda: self.data.keys()
        )
        self.server = AlphaServer(
            self.handle_event,
            host=entry.data[CONF_HOST],
            port=entry.data[CONF_PORT],
            allowlist=allowlist,
            admission=self.admission,
            dump=dump,
            relay=self.relay,
        )
        self.stored = StoredState(hass, entry.entry_id, self.data, self.server)
        self.silence = SilenceWatch(
            hass,
            self.data,
            60.0 * options.get(CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER),
            went_silent=self._went_silent,
        )
        self.issues = PortIssues(
            hass, entry.entry_id, entry.data[CONF_PORT], self.server
        )
        self.fan_out = PushFanOut(hass, self.data, self._grown)
        # Batteries that gained data they did not have, in the update delivered now:
        # the only ones entity discovery looks at.
        self.grown: frozenset[str] = frozenset()
        self.backfill = HistoryBackfill(hass, entry, self.server, self._history_filed)
        self.control = BatteryControl(
            self.server,
            lambda serial: state.report if (state := self.data.get(serial)) else None,
            allowed=options.get(CONF_ALLOW_CONTROL, False),
            hass=hass,
        )

    @property
    def unavailable_after(self) -> float:
        """Seconds of silence after which a battery's entities are unavailable."""
        return self.silence.after

    async def async_start(self) -> None:
        """Restore stored state and start listening; a busy port means not ready."""
        await self.stored.async_restore()
        self._size_connection_limit()
        try:
            await self.server.start()
        except OSError as err:
            await self.server.close()
            port = str(self.config_entry.data[CONF_PORT])
            key = "port_in_use" if err.errno == errno.EADDRINUSE else "cannot_listen"
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={"port": port, "error": str(err)},
            ) from err
        self.issues.start(
            battery_heard=any(state.last_seen for state in self.data.values())
        )

    async def async_shutdown(self) -> None:
        """Stop the server, cancel timers, save what must survive a restart."""
        await super().async_shutdown()
        await self.server.close()
        self.backfill.shutdown()
        self.silence.shutdown()
        self.issues.shutdown()
        await self.stored.async_save()

    @callback
    def forget(self, serial: str) -> None:
        """Drop a removed battery's state; it is re-created if the battery returns."""
        self.data.pop(serial, None)
        self.silence.forget(serial)
        self.server.pins.forget(serial)
        self.stored.save_soon(10)

    # --- events from the server ---------------------------------------------------

    @callback
    def handle_event(self, event: ServerEvent) -> None:
        """Apply one server event (called in the event loop)."""
        if isinstance(event, ForeignProtocol):
            self.issues.foreign_protocol(event)
            return
        if isinstance(event, CredentialsMismatch):
            self.issues.credentials_changed(event)
            return
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
                self.backfill.disconnected(state)
        if isinstance(event, Received):
            self.issues.battery_delivered()
            if self.relay is not None:
                state.relay = self.server.relay_stats.get(state.serial)
                self.issues.relay_reachable(
                    self.relay, self.server.relay_stats.values(), self.hass.loop.time()
                )
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
            case HistoryUpload():
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

    def _size_connection_limit(self) -> None:
        """Room for every battery the entry knows or allows, plus newcomers and junk.

        Unidentified connections are evicted before a battery is refused, so the
        headroom only has to cover batteries that connect at the same moment.
        """
        batteries = set(self.data) | set(self.server.allowlist)
        self.server.max_connections = max(
            DEFAULT_MAX_CONNECTIONS, len(batteries) + CONNECTION_HEADROOM
        )

    def _battery_found(self, state: BatteryState) -> None:
        LOGGER.info("Battery %s connected", mask_serial(state.serial))
        self._size_connection_limit()
        self._update_device(state)

    def _update_device(self, state: BatteryState) -> None:
        update_device(self.hass, self.config_entry.entry_id, state)
