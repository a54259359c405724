"""A battery's lifetime totals outlive its entry, for the entry that reads it next.

An owner who moves a battery from the cloud link to Modbus removes the listener's
entry and adds a Modbus one: the device and its entities come back under the same
serial and unique IDs, so their history continues. The accepted lifetime totals live
in the entry's store, though, and a new entry would accept whatever the inverter's
registers say first. A Modbus counter lower than the cloud's (another scale, or PV
that counts the DC strings only) would then be a drop the Energy dashboard reads as a
meter reset: a spike of the whole lifetime. So a removed entry leaves its batteries'
totals here, and a Modbus entry takes its serial's on its first start: the never-down
and never-faster-than-possible rules (``battery/totals.py``) go on from the cloud's
values as if nothing had changed.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .battery import BatteryState
from .const import DOMAIN, STORAGE_VERSION

HANDOVER_KEY: Final = f"{DOMAIN}.handover"
# What of a battery's stored state goes over: the totals and when each was accepted.
HANDED_OVER: Final = ("energy", "energy_at")


def _store(hass: HomeAssistant) -> Store[dict[str, Any]]:
    return Store(hass, STORAGE_VERSION, HANDOVER_KEY)


async def async_leave_totals(hass: HomeAssistant, entry_id: str) -> None:
    """Entry ``entry_id`` is removed: keep its batteries' totals for a next entry.

    Per serial the newest leaver wins; the store holds one small record per battery
    ever removed with totals, taken (and dropped) by the entry that reads it next.
    """
    saved = await Store[dict[str, Any]](
        hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}"
    ).async_load()
    batteries = (saved or {}).get("batteries", {})
    left = {
        serial: {key: stored[key] for key in HANDED_OVER if key in stored}
        for serial, stored in batteries.items()
        if stored.get("energy")
    }
    if not left:
        return
    store = _store(hass)
    kept = await store.async_load() or {}
    await store.async_save({**kept, **left})


async def async_take_totals(
    hass: HomeAssistant, serial: str, batteries: dict[str, BatteryState]
) -> bool:
    """Give battery ``serial`` the totals a removed entry left, if it has none yet.

    True when it took some (the caller saves them with its own state).
    """
    state = batteries.get(serial)
    if state is not None and state.energy:
        return False
    store = _store(hass)
    kept = await store.async_load() or {}
    if (left := kept.pop(serial, None)) is None:
        return False
    batteries.setdefault(serial, BatteryState(serial)).restore(left)
    await store.async_save(kept)
    return True
