"""Diagnostics: what the integration knows, with the owner's personal data removed.

Serials are masked (keys included), and the records go through the protocol package's
redaction, which drops passwords, addresses, zip codes, phone numbers, licences and
component serials. Of a battery's pinned credentials only their existence is shown.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_ALLOWLIST
from .coordinator import AlphaEssConfigEntry
from .protocol import mask_serial, to_jsonable


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AlphaEssConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    coordinator = entry.runtime_data
    options = dict(entry.options)
    options[CONF_ALLOWLIST] = [mask_serial(s) for s in options.get(CONF_ALLOWLIST, [])]
    return {
        "entry": {"data": dict(entry.data), "options": options},
        "server": {
            "port": coordinator.server.port,
            "open_connections": coordinator.server.connection_count,
        },
        # Who was on the port lately and what each spoke (serials masked).
        "connections": coordinator.server.connections.as_dict(),
        "backfill": {
            "resumes_sent": coordinator.backfill.resumes_sent,
            "rows_filed": coordinator.backfill.rows_filed,
            "busy": coordinator.backfill.busy,
        },
        "batteries": {
            mask_serial(serial): {
                "connected": state.connected,
                # Whether, never what: the hash stays in the entry's store.
                "credentials_pinned": coordinator.server.pins.pinned(serial),
                # Forwarded, queued, dropped, blocked, passed: only with the relay on.
                "cloud_relay": state.relay.as_dict() if state.relay else None,
                "available": state.available,
                "last_seen": to_jsonable(state.last_seen),
                "clock_offset_seconds": state.clock_offset.total_seconds()
                if state.clock_offset is not None
                else None,
                "three_phase": state.three_phase,
                "newest_record": to_jsonable(state.newest_record),
                "newest_energy_record": to_jsonable(state.newest_energy_record),
                "counters": dict(state.counters),
                "energy_totals": state.energy,
                "realtime": to_jsonable(state.realtime),
                "detail": to_jsonable(state.detail),
                "report": to_jsonable(state.report),
            }
            for serial, state in coordinator.data.items()
        },
    }
