"""How many log lines a peer may cause: bounded, whatever it sends or how often.

Everything on the LAN can reach the port, and a refused device retries every few
seconds: without a budget one device fills the owner's log. A refusal is logged once
per key an hour, bad input a few times per address an hour and then at debug level.
Both tables are bounded too, since addresses and serials are the peer's to invent.
"""

from __future__ import annotations

import logging
import time
from typing import Final

_LOGGER = logging.getLogger(__package__ + ".server")

# One warning per refused serial (or per burst of refused connections) per this period.
REFUSAL_LOG_INTERVAL: Final = 3600.0
# Refusals remembered for that purpose (bounded: serials are the peer's to invent).
MAX_LOGGED_REFUSALS: Final = 256
# Warnings about bad input per peer address per hour; the rest go to debug.
WARNINGS_PER_HOST: Final = 5


class LogBudget:
    """Which warnings may still be logged this hour."""

    def __init__(self) -> None:
        """Start with every budget full."""
        self._refusals_logged: dict[str, float] = {}
        self._warnings: dict[str, tuple[float, int]] = {}

    def once_an_hour(self, key: str) -> bool:
        """One warning per key per hour: a refused peer retries every few seconds."""
        now = time.monotonic()
        last = self._refusals_logged.get(key)
        if last is not None and now - last <= REFUSAL_LOG_INTERVAL:
            return False
        if len(self._refusals_logged) >= MAX_LOGGED_REFUSALS:
            self._refusals_logged.clear()
        self._refusals_logged[key] = now
        return True

    def may_warn(self, host: str) -> bool:
        """Whether bad input from ``host`` may still be logged as a warning this hour."""
        now = time.monotonic()
        since, count = self._warnings.get(host, (now, 0))
        if now - since > REFUSAL_LOG_INTERVAL:
            since, count = now, 0
        if len(self._warnings) >= MAX_LOGGED_REFUSALS and host not in self._warnings:
            self._warnings.clear()
        self._warnings[host] = (since, count + 1)
        if count == WARNINGS_PER_HOST:
            _LOGGER.warning(
                "Further bad input from %s is logged at debug level for an hour", host
            )
        return count < WARNINGS_PER_HOST
