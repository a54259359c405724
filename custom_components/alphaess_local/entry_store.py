"""What survives a restart, in the entry's Home Assistant store.

Per battery the watermarks the backfill and the event log need, the lifetime totals
that must never step backwards and a trusted clock estimate (``BatteryState.to_store``);
and the credentials each battery proved at its first login, as salted hashes. Written
through Home Assistant's ``Store``, so no file I/O runs on the event loop.
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .battery import BatteryState
from .const import DOMAIN, STORAGE_VERSION
from .protocol import CredentialPins
from .source import PinHolder


class StoredState:
    """The entry's store: loaded once at start, saved soon after each change."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        batteries: dict[str, BatteryState],
        pins: PinHolder | None,
    ) -> None:
        """Keep ``batteries`` and the source's ``pins`` (if it pins) for ``entry_id``."""
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}"
        )
        self._batteries = batteries
        self._pins = pins

    async def async_restore(self) -> None:
        """Take back what was saved: batteries' state and the pinned credentials."""
        stored = await self._store.async_load() or {}
        for serial, saved in stored.get("batteries", {}).items():
            self._batteries.setdefault(serial, BatteryState(serial)).restore(saved)
        if self._pins is not None:
            self._pins.pins = CredentialPins(
                stored.get("pins"), on_change=lambda: self.save_soon(0)
            )

    def save_soon(self, delay: float) -> None:
        """Save within ``delay`` seconds (changes in between are saved together)."""
        self._store.async_delay_save(self._data, delay)

    async def async_save(self) -> None:
        """Save now (the entry is stopping)."""
        await self._store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "batteries": {
                serial: state.to_store() for serial, state in self._batteries.items()
            },
        }
        if self._pins is not None:
            data["pins"] = self._pins.pins.to_store()
        return data
