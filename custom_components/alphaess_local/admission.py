"""Which batteries may talk to us: the owner says yes to every battery after the first.

Anything on the LAN can connect and name any serial. With an empty allowlist the first
battery is accepted, as a fresh install needs; a further serial creates nothing until
the owner confirms it in a repair issue ("A second AlphaESS battery connected: add
it?"), which adds it to the allowlist. Only a handful of unconfirmed serials are
remembered, so a device inventing serials cannot grow memory or the repairs list.

A battery another entry of ours reads (over Modbus TCP) is refused here whatever the
allowlist says: a serial has one entry, and two would fight over one device.

Two digits of a masked serial cannot tell the owner's battery from a stranger's, so
the repair also names the address it connected from, the model its system report
named (when the refused connection sent one) and when it was first seen.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import DOMAIN, LOGGER
from .protocol import Refusal, Refused, mask_serial, printable

# Unconfirmed serials remembered (and repair issues raised) at most, per entry.
MAX_UNCONFIRMED: Final = 3
NEW_BATTERY_ISSUE: Final = "new_battery"


def new_battery_issue_id(entry_id: str, serial: str) -> str:
    """The repair issue asking about ``serial`` on entry ``entry_id``."""
    return f"{NEW_BATTERY_ISSUE}_{entry_id}_{serial}"


@dataclass(slots=True)
class _Sighting:
    """What the owner is shown of a battery waiting for their yes."""

    address: str
    first_seen: datetime
    model: str | None


class BatteryAdmission:
    """The server's admission policy for one config entry."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        allowlist: Collection[str],
        known: Callable[[], Collection[str]],
    ) -> None:
        """Decide for entry ``entry_id``; ``known`` lists the batteries it already has."""
        self._hass = hass
        self._entry_id = entry_id
        self._allowlist = frozenset(allowlist)
        self._known = known
        self.unconfirmed: list[str] = []
        # What each unconfirmed battery showed (as many as ``unconfirmed``).
        self._seen: dict[str, _Sighting] = {}
        # Batteries refused because another entry reads them (told once each; at
        # most one per entry of ours, since an entry's unique id is its serial).
        self._elsewhere: set[str] = set()

    @callback
    def __call__(self, serial: str) -> bool:
        """Whether ``serial`` may connect (the server checked the allowlist already).

        A refusal is followed at once by the server's :class:`Refused` event, which
        carries the address the repair names (:meth:`refused`).
        """
        other = self._hass.config_entries.async_entry_for_domain_unique_id(
            DOMAIN, serial
        )
        if other is not None and other.entry_id != self._entry_id:
            if serial not in self._elsewhere:
                self._elsewhere.add(serial)
                LOGGER.warning(
                    'Battery %s connected to the listener, but the entry "%s" reads '
                    "it over Modbus TCP; it is not served here (a battery has one "
                    "entry). Remove one of the two if you changed how you read it",
                    mask_serial(serial),
                    other.title,
                )
            return False
        if self._allowlist:
            return True
        known = self._known()
        if not known or serial in known:
            return True
        if serial not in self.unconfirmed:
            if len(self.unconfirmed) >= MAX_UNCONFIRMED:
                LOGGER.debug(
                    "Battery %s refused: %d new batteries already await confirmation",
                    mask_serial(serial),
                    MAX_UNCONFIRMED,
                )
                return False
            self.unconfirmed.append(serial)
            LOGGER.warning(
                "A new AlphaESS battery %s connected; it is ignored until you add it "
                "(Settings > System > Repairs)",
                mask_serial(serial),
            )
        return False

    @callback
    def refused(self, event: Refused) -> None:
        """Raise or refresh the repair of a battery waiting for the owner's yes.

        Re-created only when what it shows changes (another address, a model now
        reported), so a battery retrying every few seconds leaves it as it is.
        """
        serial = event.serial
        if event.reason is not Refusal.AWAITING_OWNER or serial not in self.unconfirmed:
            return
        address = event.peer.rpartition(":")[0] or event.peer
        model = printable(event.model) if event.model else None
        seen = self._seen.get(serial)
        if seen is None:
            seen = self._seen[serial] = _Sighting(address, event.received_at, model)
        elif seen.address == address and (model is None or seen.model == model):
            return
        else:
            seen.address = address
            seen.model = model or seen.model
        placeholders = {
            "serial": mask_serial(serial),
            "address": seen.address,
            "model": seen.model or "",
            "first_seen": dt_util.as_local(seen.first_seen).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
        }
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            new_battery_issue_id(self._entry_id, serial),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=NEW_BATTERY_ISSUE,
            translation_placeholders=placeholders,
            data={"entry_id": self._entry_id, **placeholders, "serial": serial},
        )
