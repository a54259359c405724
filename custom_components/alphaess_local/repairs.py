"""Repair flows: the owner's yes to a new battery, and which of two logins to keep."""

from __future__ import annotations

from typing import Any

from homeassistant import data_entry_flow
from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import CONF_ALLOWLIST, DOMAIN
from .port_issues import NEW_CREDENTIALS
from .protocol import mask_serial
from .reload import async_update_options


class AddBatteryFlow(ConfirmRepairFlow):
    """Add the battery to the allowlist, with every battery the entry already has."""

    def __init__(
        self, entry_id: str, serial: str, seen: dict[str, str] | None = None
    ) -> None:
        """Ask about ``serial`` for entry ``entry_id``.

        ``seen``: where it connected from, its model and when it was first seen (the
        issue's data), so the owner can tell whether it is theirs.
        """
        super().__init__()
        self._entry_id = entry_id
        self._serial = serial
        self._seen = seen or {}

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Confirm, then add; the entry reloads once and the battery is accepted."""
        if user_input is None:
            placeholders = {
                "address": self._seen.get("address", ""),
                "first_seen": self._seen.get("first_seen", ""),
                "model": self._seen.get("model", ""),
                "serial": mask_serial(self._serial),
            }
            # Its own text when the battery has not reported its model.
            return self.async_show_form(
                step_id="confirm" if placeholders["model"] else "confirm_no_model",
                description_placeholders=placeholders,
            )
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        # An empty allowlist accepted every battery the entry knows: keep them all,
        # from its devices as well (the entry may not be loaded right now).
        current = set(entry.options.get(CONF_ALLOWLIST) or ())
        if not current:
            if entry.state is ConfigEntryState.LOADED:
                current |= set(entry.runtime_data.data)
            current |= {
                serial
                for device in dr.async_entries_for_config_entry(
                    dr.async_get(self.hass), entry.entry_id
                )
                for domain, serial in device.identifiers
                if domain == DOMAIN
            }
        current.add(self._serial)
        async_update_options(
            self.hass, entry, {**entry.options, CONF_ALLOWLIST: sorted(current)}
        )
        return self.async_create_entry(data={})

    async def async_step_confirm_no_model(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """The same yes, shown for a battery that has not reported its model."""
        return await self.async_step_confirm(user_input)


class ChooseLoginFlow(RepairsFlow):
    """Which of two logins for one serial to keep: the one pinned first, or the new.

    The choice pins that login and refuses the other (``SerialHolders.choose_login``);
    until then the new login's records move no lifetime totals.
    """

    def __init__(
        self, entry_id: str, serial: str, address: str, placeholders: dict[str, str]
    ) -> None:
        """Ask about ``serial``'s two logins, the new one last seen from ``address``."""
        super().__init__()
        self._entry_id = entry_id
        self._serial = serial
        self._address = address
        self._placeholders = placeholders

    async def async_step_init(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Show both logins; the owner picks one."""
        return self.async_show_menu(
            step_id="init",
            menu_options=["keep_first", "pin_new"],
            description_placeholders=self._placeholders,
        )

    async def async_step_keep_first(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Keep the login pinned first; the new one is refused."""
        return self._choose(first=True)

    async def async_step_pin_new(
        self, user_input: dict[str, str] | None = None
    ) -> data_entry_flow.FlowResult:
        """Pin the new login; the one pinned first is refused."""
        return self._choose(first=False)

    def _choose(self, *, first: bool) -> data_entry_flow.FlowResult:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or entry.state is not ConfigEntryState.LOADED:
            return self.async_abort(reason="entry_removed")
        parts = entry.runtime_data
        if parts.issues is None or parts.server is None:
            # Reconfigured to read over Modbus meanwhile: no login to choose.
            return self.async_abort(reason="credentials_gone")
        parts.issues.credentials_settled(self._serial)
        holders = parts.server.holders
        if not holders.choose_login(self._serial, first=first, address=self._address):
            return self.async_abort(reason="credentials_gone")
        return self.async_create_entry(data={})


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the flow behind a fixable issue of this integration."""
    assert data is not None  # noqa: S101 - every fixable issue of ours carries data
    if data.get("kind") == NEW_CREDENTIALS:
        placeholders = {
            key: str(value)
            for key, value in data.items()
            if key not in ("entry_id", "kind", "serial")
        }
        placeholders["serial"] = mask_serial(str(data["serial"]))
        return ChooseLoginFlow(
            str(data["entry_id"]),
            str(data["serial"]),
            str(data["address"]),
            placeholders,
        )
    seen = {
        key: str(data[key]) for key in ("address", "first_seen", "model") if key in data
    }
    return AddBatteryFlow(str(data["entry_id"]), str(data["serial"]), seen)
