"""Changed options reload the entry exactly once, on every Home Assistant we support.

The coordinator reads its options once, at setup, so a change must reload the entry.
Home Assistant 2025.8 added ``OptionsFlowWithReload`` for that and, from 2026.12,
rejects an update listener beside a flow that reloads by itself (reconfigure's
``async_update_reload_and_abort``): the entry would be reloaded twice. So there is no
update listener at all. Each place that changes options asks for its one reload:

- the options flow, through ``OptionsFlowWithReload`` where it exists, or on older
  releases by storing the options itself before the flow ends (the manager then
  finds nothing changed) and scheduling the reload, which is what that class does;
- anything else (the new-battery repair), through :func:`async_update_options`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homeassistant import config_entries
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import HomeAssistant, callback

# States in which the entry runs (or is about to retry) with the old options.
_RUNNING = (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY)


def async_update_options(
    hass: HomeAssistant, entry: ConfigEntry, options: Mapping[str, Any]
) -> bool:
    """Store ``options`` and reload a running entry once if they changed."""
    changed = hass.config_entries.async_update_entry(entry, options=options)
    if changed and entry.state in _RUNNING:
        hass.config_entries.async_schedule_reload(entry.entry_id)
    return changed


class _ReloadingOptionsFlow(OptionsFlow):
    """``OptionsFlowWithReload`` for Home Assistant before 2025.8."""

    @callback
    def async_create_entry(
        self,
        *,
        title: str | None = None,
        data: Mapping[str, Any],
        description: str | None = None,
        description_placeholders: Mapping[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Store and reload now; the manager's own update then changes nothing."""
        async_update_options(self.hass, self.config_entry, data)
        return super().async_create_entry(
            title=title,
            data=data,
            description=description,
            description_placeholders=description_placeholders,
        )


if TYPE_CHECKING:
    OptionsFlowWithReload = OptionsFlow
else:
    OptionsFlowWithReload = getattr(
        config_entries, "OptionsFlowWithReload", _ReloadingOptionsFlow
    )
