"""Push coordinator: hosts the fake-cloud server and turns its events into state.

There is nothing to poll. The server calls :meth:`AlphaEssCoordinator.handle_event` in
Home Assistant's event loop for every message; the coordinator updates the battery's
:class:`BatteryState`, keeps the device registry in step, and notifies entities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
import errno
from typing import Any, Final, NamedTuple

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from .admission import BatteryAdmission
from .backfill import HistoryBackfill
from .battery import CLOCK_ISSUE_REFRESH, BatteryState, ClockVerdict, Part
from .const import (
    CLOCK_ISSUE_THRESHOLD,
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    CONNECTION_HEADROOM,
    DEFAULT_UNAVAILABLE_AFTER,
    DOMAIN,
    DUMP_FILE,
    LOGGER,
    STORAGE_VERSION,
)
from .control import BatteryControl
from .port_issues import PortIssues
from .protocol import (
    DEFAULT_MAX_CONNECTIONS,
    AlphaServer,
    Corrupted,
    CredentialPins,
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

type AlphaEssConfigEntry = ConfigEntry[AlphaEssCoordinator]


class Listening(NamedTuple):
    """An entity's listener context: its battery, the part it reads, what it shows.

    ``shows`` is what the entity shows as a function of the battery's state, when it
    can say. With it, a push of the entity's part that leaves that value as it was does
    not call the entity at all: of a realtime push's ~18 entities, the ~8 whose value
    moved are asked, and those are handed the value (``show``) instead of working it
    out again. Pushes that may change anything else (availability, a battery found)
    call every entity's ``update``, as without it.
    """

    serial: str
    part: Part | None
    shows: Callable[[BatteryState], object] | None = None
    show: Callable[[object], None] | None = None


_UNSEEN: Final = object()


class _Listener:
    """One entity's update callback, with the value it was last called for."""

    __slots__ = ("last", "show", "shows", "update")

    def __init__(self, update: CALLBACK_TYPE, context: Listening) -> None:
        self.update = update
        # A value function's own reader: one call less on every push.
        self.shows = getattr(context.shows, "read", context.shows)
        self.show = context.show
        self.last: object = _UNSEEN

    def notify(self, state: BatteryState | None, *, only_if_changed: bool) -> None:
        """Call the entity, unless ``only_if_changed`` and its value stayed."""
        if self.shows is not None and state is not None:
            shown = self.shows(state)
            if only_if_changed:
                if shown == self.last:
                    return
                self.last = shown
                if self.show is not None:
                    self.show(shown)
                    return
            self.last = shown
        self.update()


# The part of a battery's state each kind of record replaces.
_PARTS: Final[Mapping[type, Part]] = {
    RealtimeRecord: Part.REALTIME,
    DetailedRecord: Part.DETAIL,
    SystemReport: Part.REPORT,
    HistoryUpload: Part.HISTORY,
    EventLog: Part.EVENTS,
}


def device_name(serial: str) -> str:
    """``AlphaESS 0042``: several batteries read apart, without the whole serial.

    Entity ids derive from it (``sensor.alphaess_0042_battery_power``), and they end up
    in logs and automations.
    """
    return f"AlphaESS {serial[-4:]}"


def battery_device(
    registry: dr.DeviceRegistry, entry_id: str, serial: str
) -> dr.DeviceEntry | None:
    """The battery's device in this entry.

    Looked up among the entry's own devices: identifiers are only unique per config
    entry in Home Assistant 2026 (the registry-wide lookup is deprecated there).
    """
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )


class AlphaEssCoordinator(DataUpdateCoordinator[dict[str, BatteryState]]):
    """One per config entry (one listening port), any number of batteries."""

    config_entry: AlphaEssConfigEntry

    def __init__(self, hass: HomeAssistant, entry: AlphaEssConfigEntry) -> None:
        """Prepare the server from the entry's data and options; nothing listens yet."""
        super().__init__(hass, LOGGER, config_entry=entry, name=DOMAIN)
        self.data = {}
        options = entry.options
        self.unavailable_after = 60.0 * options.get(
            CONF_UNAVAILABLE_AFTER, DEFAULT_UNAVAILABLE_AFTER
        )
        dump = (
            TrafficDump(hass.config.path(DUMP_FILE)) if options.get(CONF_DUMP) else None
        )
        allowlist = options.get(CONF_ALLOWLIST) or ()
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
        )
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry.entry_id}"
        )
        self._silence_timers: dict[str, CALLBACK_TYPE] = {}
        self.issues = PortIssues(
            hass, entry.entry_id, entry.data[CONF_PORT], self.server
        )
        self._update_scheduled = False
        # Per battery, the record parts pushed since the last update (None: anything
        # may have changed, such as availability).
        self._changed: dict[str, set[Part] | None] = {}
        # Each battery's entities by the record part they read (None: any), notified
        # only of that battery's pushes, and of those only of the parts they read.
        self._battery_listeners: dict[
            str, dict[Part | None, dict[object, _Listener]]
        ] = {}
        self._shapes: dict[str, tuple[object, ...]] = {}
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

    async def async_start(self) -> None:
        """Restore stored state and start listening; a busy port means not ready."""
        stored = await self._store.async_load() or {}
        for serial, saved in stored.get("batteries", {}).items():
            self.data.setdefault(serial, BatteryState(serial)).restore(saved)
        # What each battery proved at its first login (salted hashes), kept with the
        # rest of the entry's state.
        self.server.pins = CredentialPins(
            stored.get("pins"), on_change=lambda: self._save_soon(0)
        )
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
        for cancel in self._silence_timers.values():
            cancel()
        self._silence_timers.clear()
        self.issues.shutdown()
        await self._store.async_save(self._stored())

    @callback
    def forget(self, serial: str) -> None:
        """Drop a removed battery's state; it is re-created if the battery returns."""
        self.data.pop(serial, None)
        if cancel := self._silence_timers.pop(serial, None):
            cancel()
        self.server.pins.forget(serial)
        self._save_soon(10)

    def _save_soon(self, delay: float) -> None:
        self._store.async_delay_save(self._stored, delay)

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
                self._apply(state, message, event.received_at)
                part = _PARTS.get(type(message))
            case Corrupted():
                state.counters["corrupt"] += 1  # shown in diagnostics only
                return
            case Disconnected():
                state.connected = False
                state.connected_since = None
                self.backfill.disconnected(state)
        if isinstance(event, Received):
            self.issues.battery_delivered()
            if new_battery:
                self._battery_found(state)
        if new_battery or (state.available, state.connected) != link:
            part = None
        self._schedule_update(state.serial, part)

    def _schedule_update(self, serial: str, part: Part | None = None) -> None:
        """Notify the battery's entities once per loop turn.

        A burst of pushes read from one TCP segment (late records arrive that way)
        then updates state once, with the newest. Only that battery's entities are
        called, and of those, with ``part`` given, only the ones that read it or no
        part in particular (:attr:`changed_parts`).
        """
        if part is None:
            self._changed[serial] = None
        elif serial not in self._changed:
            self._changed[serial] = {part}
        elif (parts := self._changed[serial]) is not None:
            parts.add(part)
        if not self._update_scheduled:
            self._update_scheduled = True
            self.hass.loop.call_soon(self._push_update)

    @callback
    def _push_update(self) -> None:
        self._update_scheduled = False
        changed, self._changed = self._changed, {}
        grown: list[str] = []
        for serial, parts in changed.items():
            state = self.data.get(serial)
            # A push of known parts only: entities that can say what they show are
            # called only if that changed (:class:`Listening`).
            only_if_changed = parts is not None
            for part, listeners in list(
                self._battery_listeners.get(serial, {}).items()
            ):
                if part is None or parts is None or part in parts:
                    for listener in list(listeners.values()):
                        listener.notify(state, only_if_changed=only_if_changed)
            if state is not None and self._shapes.get(serial) != (shape := state.shape):
                self._shapes[serial] = shape
                grown.append(serial)
        if grown:
            self.grown = frozenset(grown)
            self.async_update_listeners()

    @callback
    def async_add_listener(
        self, update_callback: CALLBACK_TYPE, context: Any = None
    ) -> Callable[[], None]:
        """Entities listen to their own battery (:class:`Listening`).

        A realtime push then calls the battery's realtime entities and the few that
        read no record in particular, not every entity of every battery. Listeners
        without that context (entity discovery) hear only of batteries that gained
        data (:attr:`grown`).
        """
        if not isinstance(context, Listening):
            return super().async_add_listener(update_callback, context)
        listeners = self._battery_listeners.setdefault(context.serial, {}).setdefault(
            context.part, {}
        )
        token = object()
        listeners[token] = _Listener(update_callback, context)

        @callback
        def remove() -> None:
            listeners.pop(token, None)

        return remove

    @callback
    def _history_filed(self, state: BatteryState) -> None:
        self._save_soon(10)
        self._schedule_update(state.serial)

    def _apply(
        self, state: BatteryState, message: object, received_at: datetime
    ) -> None:
        state.counters["frames"] += 1
        match message:
            case RealtimeRecord() | DetailedRecord():
                self._apply_record(state, message, received_at)
            case HistoryUpload():
                self.backfill.rows_received(state, message.rows)
            case SystemReport():
                state.report = message
                self._update_device(state)
                self.control.report_received(state.serial, message)
            case EventLog() if state.apply_events(message.entries):
                self._save_soon(10)
            case Undecodable():
                state.counters["undecodable"] += 1
            case UnknownMessage():
                state.counters["unknown"] += 1

    def _apply_record(
        self,
        state: BatteryState,
        record: RealtimeRecord | DetailedRecord,
        received_at: datetime,
    ) -> None:
        """Use a live record only if its timestamp fits the battery's clock.

        One that does not fit moves nothing, not even the gap detection: a single
        record stamped 2099 must neither freeze the sensors nor start a Resume.
        """
        if record.time is not None:
            if state.admit(record.time, received_at) is ClockVerdict.IGNORED:
                return
            self.backfill.record_seen(state, record.time)
            self._measure_clock(state)
        if isinstance(record, RealtimeRecord):
            state.apply_realtime(record, received_at)
        elif state.apply_detail(record, received_at):
            self._save_soon(60)

    def _seen(self, state: BatteryState, when: datetime) -> None:
        state.last_seen = when
        if not state.connected:
            state.connected_since = when
        state.connected = True
        if not state.available:
            LOGGER.info("Battery %s is sending again", mask_serial(state.serial))
            state.available = True
        if state.serial not in self._silence_timers:
            self._watch_silence(state.serial, self.unavailable_after)

    def _watch_silence(self, serial: str, delay: float) -> None:
        """One timer per battery, not one per push: it checks when it fires."""
        self._silence_timers[serial] = async_call_later(
            self.hass, delay, self._silence_callback(serial)
        )

    def _silence_callback(self, serial: str) -> Callable[[datetime], None]:
        @callback
        def _went_silent(now: datetime) -> None:
            self._silence_timers.pop(serial, None)
            state = self.data.get(serial)
            if state is None or state.last_seen is None:
                return
            quiet = (now - state.last_seen).total_seconds()
            if quiet < 0:  # the host clock stepped back: start the wait again
                self._watch_silence(serial, self.unavailable_after)
                return
            if quiet < self.unavailable_after:
                self._watch_silence(serial, self.unavailable_after - quiet)
                return
            state.available = False
            LOGGER.info(
                "Battery %s has not been heard for %.0f minutes; its entities are "
                "unavailable until it sends again",
                mask_serial(serial),
                self.unavailable_after / 60,
            )
            self._schedule_update(serial)

        return _went_silent

    def _measure_clock(self, state: BatteryState) -> None:
        """Keep the clock repair issue in step with the battery's offset from local time.

        Re-created when that distance moves by a minute or more (daylight saving, a
        clock set on the battery), so the issue never states a stale figure.
        """
        offset = state.clock_offset
        if offset is None:
            return
        issue_id = f"clock_offset_{state.serial}"
        if abs(offset) <= CLOCK_ISSUE_THRESHOLD:
            if state.clock_issue is not None:
                state.clock_issue = None
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        shown = state.clock_issue
        if shown is not None and abs(offset - shown) < CLOCK_ISSUE_REFRESH:
            return
        state.clock_issue = offset
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="clock_offset",
            translation_placeholders={
                "minutes": f"{offset.total_seconds() / 60:+.0f}",
                "serial": mask_serial(state.serial),
            },
        )

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
        """Create the battery's device when first heard; refresh it from reports."""
        report = state.report
        details: dict[str, Any] = {}
        if report is not None:
            # Only what the report knows: a missing field must not wipe a stored one.
            details = {
                key: value
                for key, value in (
                    ("model", report.battery_model),
                    ("sw_version", report.ems_version),
                    ("hw_version", report.inverter_hw_version),
                )
                if value
            }
        registry = dr.async_get(self.hass)
        identifiers = {(DOMAIN, state.serial)}
        if battery_device(registry, self.config_entry.entry_id, state.serial) is None:
            details["name"] = device_name(state.serial)
        registry.async_get_or_create(
            config_entry_id=self.config_entry.entry_id,
            identifiers=identifiers,
            manufacturer="AlphaESS",
            serial_number=state.serial,
            **details,
        )

    def _stored(self) -> dict[str, Any]:
        return {
            "batteries": {
                serial: state.to_store() for serial, state in self.data.items()
            },
            "pins": self.server.pins.to_store(),
        }
