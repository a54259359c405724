"""Repairs that tell the owner who and what is on the port, and what they can do.

"No battery has connected" has several causes with different remedies, and the advice
the owner needs depends on which one it is: the DNS override does not reach the
battery (nothing ever connected), the battery speaks a protocol we cannot read
(encrypted firmware, MQTT), or a battery connected and was refused. The server's
connection log tells them apart; this module turns it into repair issues, one per
protocol and one per story, that clear themselves when a battery delivers data and go
with the entry. It also asks the owner which of two logins for one serial to keep.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .const import DOMAIN, NO_BATTERY_ISSUE_DELAY, RELAY_UNREACHABLE_ISSUE_AFTER
from .protocol import (
    AlphaServer,
    CredentialsMismatch,
    Foreign,
    ForeignKind,
    ForeignProtocol,
    Refusal,
    Refused,
    RelayPolicy,
    RelayStats,
    Spoke,
    TlsOutcome,
    mask_serial,
)

NO_BATTERY: Final = "no_battery"
NEW_CREDENTIALS: Final = "new_credentials"
RELAY_UNREACHABLE: Final = "relay_unreachable"
# The battery refused the certificate the listener answered its TLS with.
TLS_REFUSED: Final = "tls_certificate_refused"
BATTERY_REFUSED: Final = "battery_refused"
_FOREIGN_SPOKEN: Final = (Spoke.TLS, Spoke.MQTT, Spoke.HTTP, Spoke.JUNK)


def _address(peer: str) -> str:
    """``192.168.1.23`` of ``192.168.1.23:51234``: the device, not its socket."""
    return peer.rpartition(":")[0] or peer


def _when(moment: datetime) -> str:
    """A sighting's time as the owner reads it: local, to the second."""
    return dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M:%S")


def refused_issue_key(reason: Refusal) -> str:
    """Translation key of the repair for a battery refused for ``reason``."""
    return f"{BATTERY_REFUSED}_{reason}"


def foreign_issue_key(kind: ForeignKind) -> str:
    """Translation key (and issue id prefix) of the repair for one protocol."""
    return f"foreign_{kind}"


def _issue_key(foreign: Foreign) -> str:
    """The repair for what was seen: a refused certificate has its own."""
    if foreign.details.get("tls") == TlsOutcome.REFUSED:
        return TLS_REFUSED
    return foreign_issue_key(foreign.kind)


class PortIssues:
    """The repair issues of one entry's listener."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, port: int, server: AlphaServer
    ) -> None:
        """Watch ``server`` (listening on ``port``) for entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        self._port = port
        self._server = server
        self._timer: CALLBACK_TYPE | None = None
        self._no_battery_raised = False
        # Raised foreign-protocol repairs (by translation key), with their address.
        self._foreign: dict[str, str] = {}
        self._credentials: set[str] = set()
        self._relay_raised = False
        # Batteries refused although they had delivered data, and why.
        self._refused: dict[str, Refusal] = {}

    @property
    def no_battery_issue_id(self) -> str:
        """Repair issue raised while no battery has connected."""
        return f"{NO_BATTERY}_{self._entry_id}"

    def refused_issue_id(self, serial: str) -> str:
        """Repair issue saying that ``serial``, which delivered data, is refused."""
        return f"{BATTERY_REFUSED}_{self._entry_id}_{serial}"

    def credentials_issue_id(self, serial: str) -> str:
        """Repair issue asking about ``serial``'s new credentials."""
        return f"{NEW_CREDENTIALS}_{self._entry_id}_{serial}"

    @callback
    def start(self, *, battery_heard: bool) -> None:
        """Wait for a battery; if none delivers data in time, say why not."""
        if not battery_heard:
            self._timer = async_call_later(
                self._hass, NO_BATTERY_ISSUE_DELAY, self._wait_over
            )

    @callback
    def shutdown(self) -> None:
        """The entry is going: its issues go with it."""
        if self._timer:
            self._timer()
            self._timer = None
        ir.async_delete_issue(self._hass, DOMAIN, self.no_battery_issue_id)
        self._no_battery_raised = False
        self._clear_foreign()
        if self._relay_raised:
            ir.async_delete_issue(
                self._hass, DOMAIN, f"{RELAY_UNREACHABLE}_{self._entry_id}"
            )
            self._relay_raised = False
        for serial in self._credentials:
            ir.async_delete_issue(self._hass, DOMAIN, self.credentials_issue_id(serial))
        self._credentials.clear()
        for serial in self._refused:
            ir.async_delete_issue(self._hass, DOMAIN, self.refused_issue_id(serial))
        self._refused.clear()

    @callback
    def battery_delivered(self) -> None:
        """A battery delivered data: whatever kept it away is solved."""
        if self._timer:
            self._timer()
            self._timer = None
        if self._no_battery_raised:
            ir.async_delete_issue(self._hass, DOMAIN, self.no_battery_issue_id)
            self._no_battery_raised = False
        if self._foreign:
            self._clear_foreign()

    @callback
    def battery_served(self, serial: str) -> None:
        """``serial`` delivered data: it is no longer refused."""
        if self._refused.pop(serial, None) is not None:
            ir.async_delete_issue(self._hass, DOMAIN, self.refused_issue_id(serial))

    @callback
    def battery_refused(self, event: Refused) -> None:
        """A battery that delivered data was refused: say so now, and why.

        Only batteries the entry has are passed here (the serial is the peer's word),
        so the issues are as many as the entry's batteries. A battery retrying every
        few seconds with the same refusal leaves its repair unchanged.
        """
        serial = event.serial
        if self._refused.get(serial) is event.reason:
            return
        self._refused[serial] = event.reason
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.refused_issue_id(serial),
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=refused_issue_key(event.reason),
            translation_placeholders={
                "serial": mask_serial(serial),
                "address": _address(event.peer),
                "time": _when(event.received_at),
                "accepted": ", ".join(
                    sorted(mask_serial(s) for s in self._server.allowlist)
                )
                or "-",
            },
        )

    @callback
    def foreign_protocol(self, event: ForeignProtocol) -> None:
        """Something on the LAN spoke another protocol on our port."""
        foreign = event.foreign
        address = _address(event.peer)
        key = _issue_key(foreign)
        if self._foreign.get(key) == address:
            return  # a device retrying every few seconds: one repair, unchanged
        self._foreign[key] = address
        details = foreign.details
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            f"{key}_{self._entry_id}",
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders={
                "address": address,
                "port": str(self._port),
                "sni": details.get("sni", "-"),
                "detail": foreign.describe(),
            },
        )
        if self._no_battery_raised:
            self._raise_no_battery()

    @callback
    def credentials_changed(self, event: CredentialsMismatch) -> None:
        """Two logins compete for a serial: the owner says which one to keep.

        The repair names both, each with its address and when it was first and last
        seen, and says which was pinned first and which is new: either may be the
        battery (a device may have logged in before it ever did).
        """
        serial = event.serial
        first, new = event.first, event.new
        address = new.address if new else _address(event.peer)
        self._credentials.add(serial)
        placeholders = {
            "serial": mask_serial(serial),
            "address": address,
            "first_address": first.address if first else "-",
            "first_first_seen": _when(first.first_seen) if first else "-",
            "first_last_seen": _when(first.last_seen) if first else "-",
            "new_first_seen": _when(new.first_seen if new else event.received_at),
            "new_last_seen": _when(new.last_seen if new else event.received_at),
        }
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.credentials_issue_id(serial),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=NEW_CREDENTIALS,
            translation_placeholders=placeholders,
            data={
                **placeholders,
                "entry_id": self._entry_id,
                "serial": serial,
                "kind": NEW_CREDENTIALS,
            },
        )

    @callback
    def relay_reachable(
        self, policy: RelayPolicy, links: Iterable[RelayStats], now: float
    ) -> None:
        """Raise the relay repair after an hour out of reach; clear it once back.

        One issue per entry: the cloud is out of reach as long as any battery's link
        has been, since the earliest of them.
        """
        issue_id = f"{RELAY_UNREACHABLE}_{self._entry_id}"
        since = min(
            (s.unreachable_since for s in links if s.unreachable_since is not None),
            default=None,
        )
        if since is None:
            if self._relay_raised:
                self._relay_raised = False
                ir.async_delete_issue(self._hass, DOMAIN, issue_id)
            return
        if self._relay_raised or now - since < RELAY_UNREACHABLE_ISSUE_AFTER:
            return
        self._relay_raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=RELAY_UNREACHABLE,
            translation_placeholders={"upstream": f"{policy.host}:{policy.port}"},
        )

    @callback
    def credentials_settled(self, serial: str) -> None:
        """The owner answered (or the serial went): the question is gone."""
        self._credentials.discard(serial)

    def _clear_foreign(self) -> None:
        for key in self._foreign:
            ir.async_delete_issue(self._hass, DOMAIN, f"{key}_{self._entry_id}")
        self._foreign.clear()

    @callback
    def _wait_over(self, _now: datetime) -> None:
        self._timer = None
        self._raise_no_battery()

    def _raise_no_battery(self) -> None:
        """Say which story it is: nothing came, something else came, or a refusal."""
        log = self._server.connections
        if log.seen(Spoke.REFUSED):
            key = f"{NO_BATTERY}_refused"
        elif log.seen(*_FOREIGN_SPOKEN):
            key = f"{NO_BATTERY}_foreign"
        else:
            key = NO_BATTERY
        self._no_battery_raised = True
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.no_battery_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders={
                "port": str(self._port),
                "minutes": str(int(NO_BATTERY_ISSUE_DELAY.total_seconds() // 60)),
            },
        )
