"""Diagnostics: what the integration knows, with the owner's personal data removed.

Serials are masked (keys included), and the records go through the protocol package's
redaction, which drops passwords, addresses, zip codes, phone numbers, licences and
component serials. Of a battery's pinned credentials only their existence is shown.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from .const import CONF_ALLOWLIST
from .modbus_source import ModbusSource
from .protocol import mask_serial, to_jsonable
from .runtime_data import AlphaEssConfigEntry


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: AlphaEssConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    parts = entry.runtime_data
    backfill = parts.backfill
    server = parts.server
    options = dict(entry.options)
    if server is not None:
        options[CONF_ALLOWLIST] = [
            mask_serial(s) for s in options.get(CONF_ALLOWLIST, [])
        ]
    listener = (
        {
            "server": {
                "port": server.port,
                "open_connections": server.connection_count,
                # Whether a TLS ClientHello gets our certificate (never the key).
                "answers_tls": server.tls is not None,
            },
            # Who was on the port lately and what each spoke (serials masked).
            "connections": server.connections.as_dict(),
        }
        if server is not None
        else {}
    )
    return {
        "entry": {"data": dict(entry.data), "options": options},
        **listener,
        **_modbus(parts.source),
        "backfill": {
            "resumes_sent": backfill.resumes_sent,
            "rows_filed": backfill.rows_filed,
            "busy": backfill.busy,
        }
        if backfill is not None
        else None,
        "batteries": {
            mask_serial(serial): {
                "connected": state.connected,
                # Whether, never what: the hash stays in the entry's store.
                "credentials_pinned": server.pins.pinned(serial)
                if server is not None
                else None,
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
            for serial, state in parts.data.items()
        },
    }


def _modbus(source: object) -> dict[str, Any]:
    """The reader's link: the register blocks read, their timings, the scales chosen.

    Empty for the cloud listener. The decisions say which scale the register map
    settled on for each disputed register and why (``docs/modbus.md``).
    """
    if not isinstance(source, ModbusSource):
        return {}
    reader = source.reader
    return {
        "modbus": {
            "host": source.host,
            "port": source.port,
            "unit": source.unit,
            "poll_interval": source.interval,
            "connected": bool(reader.connected_serials),
            "stats": reader.stats.as_dict(),
            "scale_decisions": dict(reader.registers.decisions),
        }
    }
