"""The cloud listener as a :class:`~.source.Source`: the library's server on the port.

The battery believes it talks to the vendor cloud. Everything that is about the port
rather than a battery stays here: the allowlist and the owner's admission of new
serials, the traffic dump, the relay policy, the connection limit, and the port's
repairs (busy port, foreign protocol, a login that changed, relay out of reach), so
the coordinator hears only of batteries.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
import errno

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.util.hass_dict import HassKey

from .admission import BatteryAdmission
from .allowlist import normalize_serial
from .const import (
    CONF_ALLOWLIST,
    CONF_ANSWER_TLS,
    CONF_DUMP,
    CONNECTION_HEADROOM,
    DOMAIN,
    DUMP_FILE,
)
from .port_issues import PortIssues
from .protocol import (
    DEFAULT_MAX_CONNECTIONS,
    AlphaServer,
    ConnectionLog,
    CredentialsMismatch,
    ForeignProtocol,
    Received,
    Refused,
    ServerEvent,
    TrafficDump,
)
from .relay_options import relay_policy
from .source import (
    Capability,
    EventCallback,
    HistoryRequests,
    PinHolder,
    RelayCounts,
    SettingsChannel,
)
from .tls_store import async_tls_answer

# Per entry: the connection log outlives the server an options reload rebuilds, so
# saving options to fix a refusal keeps the lines that showed it. Dropped with the
# entry (``async_forget_connection_log``); each log is bounded.
CONNECTION_LOGS: HassKey[dict[str, ConnectionLog]] = HassKey(
    f"{DOMAIN}_connection_logs"
)


def async_forget_connection_log(hass: HomeAssistant, entry_id: str) -> None:
    """The entry is removed: its connection log goes with it."""
    hass.data.get(CONNECTION_LOGS, {}).pop(entry_id, None)


class CloudSource:
    """One entry's listener: batteries connect to it as they would to the cloud."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        known: Callable[[], Collection[str]],
    ) -> None:
        """Prepare the server from the entry's data and options; nothing listens yet.

        ``known``: the batteries the entry already has, which need no admission.
        """
        self._hass = hass
        self._known = known
        self._port: int = entry.data[CONF_PORT]
        self._entry_id = entry.entry_id
        options = entry.options
        self._answer_tls: bool = options.get(CONF_ANSWER_TLS, True)
        dump = (
            TrafficDump(hass.config.path(DUMP_FILE)) if options.get(CONF_DUMP) else None
        )
        # Lists saved before the form normalised may hold lower case or spaces.
        allowlist = [normalize_serial(s) for s in options.get(CONF_ALLOWLIST) or ()]
        self.relay_policy = relay_policy(options)
        self.admission = BatteryAdmission(hass, entry.entry_id, allowlist, known=known)
        self.server = AlphaServer(
            self._server_event,
            host=entry.data[CONF_HOST],
            port=self._port,
            allowlist=allowlist,
            admission=self.admission,
            dump=dump,
            relay=self.relay_policy,
            connections=hass.data.setdefault(CONNECTION_LOGS, {}).setdefault(
                entry.entry_id, ConnectionLog()
            ),
        )
        self.issues = PortIssues(hass, entry.entry_id, self._port, self.server)
        self._on_event: EventCallback | None = None
        self._stopped = False
        # What the server can do for the coordinator (``source.py``).
        self.history: HistoryRequests | None = self.server
        self.settings: SettingsChannel | None = self.server
        self.pins: PinHolder | None = self.server
        self.relay: RelayCounts | None = self.server if self.relay_policy else None
        # Everything: the cloud link is where these entities were made for.
        self.capabilities: frozenset[Capability] = frozenset(Capability)

    @property
    def connected_serials(self) -> frozenset[str]:
        """Batteries with an open connection."""
        return self.server.connected_serials

    async def start(self, on_event: EventCallback, *, heard: bool) -> None:
        """Listen on the port; a busy port means the entry is not ready yet."""
        self._on_event = on_event
        if self._answer_tls:
            self.server.tls = await async_tls_answer(self._hass, self._entry_id)
            if self._stopped:
                # Stopped while the certificate was read (Home Assistant stopping
                # during a reload): a listener started now would never be closed.
                return
        try:
            await self.server.start()
        except OSError as err:
            await self.server.close()
            key = "port_in_use" if err.errno == errno.EADDRINUSE else "cannot_listen"
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders={"port": str(self._port), "error": str(err)},
            ) from err
        self.issues.start(battery_heard=heard)

    async def stop(self) -> None:
        """Stop listening and drop every connection; the port's repairs go."""
        self._stopped = True
        await self.server.close()
        self.issues.shutdown()

    def expect(self, batteries: Collection[str]) -> None:
        """Room for every battery the entry knows or allows, plus newcomers and junk.

        Unidentified connections are evicted before a battery is refused, so the
        headroom only has to cover batteries that connect at the same moment.
        """
        every = set(batteries) | set(self.server.allowlist)
        self.server.max_connections = max(
            DEFAULT_MAX_CONNECTIONS, len(every) + CONNECTION_HEADROOM
        )

    def forget(self, serial: str) -> None:
        """A removed battery's pinned login goes with it."""
        self.server.pins.forget(serial)

    @callback
    def _server_event(self, event: ServerEvent) -> None:
        """The port's own news becomes repairs; a battery's goes to the coordinator."""
        if isinstance(event, ForeignProtocol):
            self.issues.foreign_protocol(event)
            return
        if isinstance(event, CredentialsMismatch):
            self.issues.credentials_changed(event)
            return
        if isinstance(event, Refused):
            # A stranger's refusal is the no-battery or new-battery repair's story;
            # one while the battery is served is a device using its serial.
            serial = event.serial
            self.admission.refused(event)
            if serial in self._known() and serial not in self.connected_serials:
                self.issues.battery_refused(event)
            return
        if self._on_event is not None:
            self._on_event(event)
        if isinstance(event, Received) and event.serial is not None:
            self.issues.battery_delivered()
            self.issues.battery_served(event.serial)
            if self.relay_policy is not None:
                self.issues.relay_reachable(
                    self.relay_policy,
                    self.server.relay_stats.values(),
                    self._hass.loop.time(),
                )
