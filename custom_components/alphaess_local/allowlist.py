"""The accepted serial numbers as the owner types them, made into what the server needs.

A serial typed in lower case, or copied from a label with its spaces, names no battery
the server will ever see: the battery sends its serial in capitals, unseparated, and
the server compares exactly. A typo in this list locks the owner's own battery out, so
the form normalises what it safely can, refuses what is not a serial at all, and warns
before saving a list that leaves out a battery the entry already has.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
import re
from typing import Final

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import DOMAIN
from .protocol import is_serial, printable

# Typed between serials: each starts a new one.
_BETWEEN: Final = re.compile(r"[,;\n]")
# Typed inside a serial, copied from a label or a screen: dropped.
_INSIDE: Final = re.compile(r"[\s\-_.:/]")


def normalize_serial(text: str) -> str:
    """``al90 0202-1030042`` as the battery sends it: ``AL9002021030042``."""
    return _INSIDE.sub("", text).upper()


def parse_allowlist(entries: Iterable[str]) -> tuple[list[str], list[str]]:
    """The serials the owner typed, normalised and deduplicated, and what is not one.

    The second list holds the first entries that are no serial, escaped for the form.
    """
    serials: list[str] = []
    invalid: list[str] = []
    for entry in entries:
        for part in _BETWEEN.split(entry):
            serial = normalize_serial(part)
            if not serial:
                continue
            if not is_serial(serial):
                invalid.append(printable(part.strip(), limit=40))
            elif serial not in serials:
                serials.append(serial)
    return serials, invalid


def seen_batteries(hass: HomeAssistant, entry: ConfigEntry) -> dict[str, bool]:
    """Every battery the entry has seen, by serial: whether it is connected now.

    ``entry`` is untyped here: the listener imports this module, and the entry's
    parts (``runtime_data.py``) import the listener.
    """
    seen: dict[str, bool] = {
        serial: False
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), entry.entry_id
        )
        for domain, serial in device.identifiers
        if domain == DOMAIN
    }
    if entry.state is ConfigEntryState.LOADED:
        parts = entry.runtime_data
        seen.update(dict.fromkeys(parts.data, False))
        seen.update(dict.fromkeys(parts.source.connected_serials, True))
    return seen


def left_out(serials: Collection[str], seen: dict[str, bool]) -> dict[str, bool]:
    """The seen batteries a non-empty list would refuse (an empty one refuses none)."""
    if not serials:
        return {}
    return {s: now for s, now in sorted(seen.items()) if s not in serials}
