"""Which batteries may talk to us: the owner says yes to every battery after the first.

Anything on the LAN can connect and name any serial. With an empty allowlist the first
battery is accepted, as a fresh install needs; a further serial creates nothing until
the owner confirms it in a repair issue ("A second AlphaESS battery connected: add
it?"), which adds it to the allowlist. Only a handful of unconfirmed serials are
remembered, so a device inventing serials cannot grow memory or the repairs list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Final

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN, LOGGER
from .protocol import mask_serial

# Unconfirmed serials remembered (and repair issues raised) at most, per entry.
MAX_UNCONFIRMED: Final = 3
NEW_BATTERY_ISSUE: Final = "new_battery"


def new_battery_issue_id(entry_id: str, serial: str) -> str:
    """The repair issue asking about ``serial`` on entry ``entry_id``."""
    return f"{NEW_BATTERY_ISSUE}_{entry_id}_{serial}"


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

    @callback
    def __call__(self, serial: str) -> bool:
        """Whether ``serial`` may connect (the server checked the allowlist already)."""
        if self._allowlist:
            return True
        known = self._known()
        if not known or serial in known:
            return True
        self._ask_owner(serial)
        return False

    def _ask_owner(self, serial: str) -> None:
        if serial in self.unconfirmed:
            return
        if len(self.unconfirmed) >= MAX_UNCONFIRMED:
            LOGGER.debug(
                "Battery %s refused: %d new batteries already await confirmation",
                mask_serial(serial),
                MAX_UNCONFIRMED,
            )
            return
        self.unconfirmed.append(serial)
        LOGGER.warning(
            "A new AlphaESS battery %s connected; it is ignored until you add it "
            "(Settings > System > Repairs)",
            mask_serial(serial),
        )
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            new_battery_issue_id(self._entry_id, serial),
            is_fixable=True,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=NEW_BATTERY_ISSUE,
            translation_placeholders={"serial": mask_serial(serial)},
            data={"entry_id": self._entry_id, "serial": serial},
        )
