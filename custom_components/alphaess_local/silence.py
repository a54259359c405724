"""When a battery has been quiet too long, its entities become unavailable.

One timer per battery, not one per push: a battery pushes every 10 s, and cancelling
and re-arming a timer that often costs more than checking, when it fires, whether the
battery spoke since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .battery import BatteryState
from .const import LOGGER
from .protocol import mask_serial


class SilenceWatch:
    """Marks a battery unavailable after ``after`` seconds without a message."""

    def __init__(
        self,
        hass: HomeAssistant,
        batteries: Mapping[str, BatteryState],
        after: float,
        went_silent: Callable[[str], None],
    ) -> None:
        """Watch ``batteries``; ``went_silent(serial)`` hears of each that went quiet."""
        self._hass = hass
        self._batteries = batteries
        self.after = after
        self._went_silent = went_silent
        self._timers: dict[str, CALLBACK_TYPE] = {}

    def heard(self, serial: str) -> None:
        """The battery spoke: make sure a timer watches it."""
        if serial not in self._timers:
            self._watch(serial, self.after)

    def forget(self, serial: str) -> None:
        """Stop watching a removed battery."""
        if cancel := self._timers.pop(serial, None):
            cancel()

    def shutdown(self) -> None:
        """Stop every timer."""
        for cancel in self._timers.values():
            cancel()
        self._timers.clear()

    def _watch(self, serial: str, delay: float) -> None:
        self._timers[serial] = async_call_later(self._hass, delay, self._check(serial))

    def _check(self, serial: str) -> Callable[[datetime], None]:
        @callback
        def _fired(now: datetime) -> None:
            self._timers.pop(serial, None)
            state = self._batteries.get(serial)
            if state is None or state.last_seen is None:
                return
            quiet = (now - state.last_seen).total_seconds()
            if quiet < 0:  # the host clock stepped back: start the wait again
                self._watch(serial, self.after)
                return
            if quiet < self.after:
                self._watch(serial, self.after - quiet)
                return
            state.available = False
            LOGGER.info(
                "Battery %s has not been heard for %.0f minutes; its entities are "
                "unavailable until it sends again",
                mask_serial(serial),
                self.after / 60,
            )
            self._went_silent(serial)

        return _fired
