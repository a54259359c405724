"""How many log lines a peer may cause: bounded, whatever it sends or how often.

Everything on the LAN can reach the port, and a refused device retries every few
seconds: without a budget one device fills the owner's log. What a peer causes is
budgeted by what it cannot choose: the kind of line (fixed in our code) and its
address, never the serial or anything else it sends (a flood naming a new invented
serial each time got 28 warnings a second when the budget was keyed by serial).

Per kind and hour the first few addresses get their lines; everything past that is
counted, and one summary line says how many more there were from how many addresses.
The summary comes with the first budgeted line asked for after the hour (a refusal,
bad input, anything): no timer runs for it, a quiet server logs nothing, and a flood
that goes on gets its summary within seconds of the hour. :meth:`LogBudget.flush`
says what is left at any moment (the server's close). Every table is bounded, and no
table is ever emptied to make room: that would reopen the budget for everyone.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
import logging
import time
from typing import Final

_LOGGER = logging.getLogger(__package__)

# The budget's period: one window of lines per kind per this many seconds.
REFUSAL_LOG_INTERVAL: Final = 3600.0
# Bound of tables keyed by something the code chooses (kinds of refusal).
MAX_LOGGED_REFUSALS: Final = 256
# Refusals of one kind logged per window, each from a different address.
ADDRESSES_NAMED: Final = 3
# Warnings about bad input per peer address per window; the rest go to debug.
WARNINGS_PER_HOST: Final = 5
# Addresses whose bad input is logged per window (each up to WARNINGS_PER_HOST).
WARNED_HOSTS: Final = 8
# Addresses counted for a summary; past this it says "at least".
MAX_COUNTED_ADDRESSES: Final = 1024

# Kinds of line a peer causes; each is also how its summary names them.
UNKNOWN_SERIAL: Final = "connections with serials not on the allowlist"
SECOND_CONNECTION: Final = "second connections for a battery already connected"
OTHER_CREDENTIALS: Final = "logins with credentials other than the pinned ones"
REFUSED_CREDENTIALS: Final = "logins with credentials the owner refused"
BAD_INPUT: Final = "warnings about bad input"


@dataclass(slots=True)
class _Window:
    """One kind's lines in the current window: who was named, how many were not."""

    since: float
    named: dict[str, int] = field(default_factory=dict)  # address -> lines
    suppressed: int = 0
    others: set[str] = field(default_factory=set)  # addresses of the suppressed
    more_others: bool = False  # past MAX_COUNTED_ADDRESSES

    def suppress(self, host: str) -> None:
        self.suppressed += 1
        if host in self.others:
            return
        if len(self.others) < MAX_COUNTED_ADDRESSES:
            self.others.add(host)
        else:
            self.more_others = True


class LogBudget:
    """Which warnings may still be logged this hour, on ``clock`` (monotonic seconds).

    ``clock`` is an attribute so that the owner (or a test) can hand its own.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Start with every budget full."""
        self.clock = clock
        self._refusals_logged: OrderedDict[str, float] = OrderedDict()
        self._windows: dict[str, _Window] = {}

    def once_an_hour(self, key: str) -> bool:
        """One warning per key per hour; keys are the code's, never a peer's."""
        now = self._tick()
        last = self._refusals_logged.get(key)
        if last is not None and now - last <= REFUSAL_LOG_INTERVAL:
            return False
        self._refusals_logged[key] = now
        self._refusals_logged.move_to_end(key)
        while len(self._refusals_logged) > MAX_LOGGED_REFUSALS:
            self._refusals_logged.popitem(last=False)  # the oldest, never all
        return True

    def refusal(self, kind: str, host: str) -> bool:
        """Whether a refusal of ``kind`` caused by ``host`` may be logged.

        The first from each of :data:`ADDRESSES_NAMED` addresses per window is;
        the rest are counted for the summary.
        """
        window = self._window(kind, self._tick())
        if host not in window.named and len(window.named) < ADDRESSES_NAMED:
            window.named[host] = 1
            return True
        window.suppress(host)
        return False

    def may_warn(self, host: str) -> bool:
        """Whether bad input from ``host`` may still be logged as a warning this hour.

        :data:`WARNINGS_PER_HOST` lines for each of the first :data:`WARNED_HOSTS`
        addresses in a window; the rest go to debug and into the summary.
        """
        window = self._window(BAD_INPUT, self._tick())
        count = window.named.get(host)
        if count is None:
            if len(window.named) >= WARNED_HOSTS:
                window.suppress(host)
                return False
            count = 0
        window.named[host] = count + 1
        if count == WARNINGS_PER_HOST:
            _LOGGER.warning(
                "Further bad input from %s is logged at debug level for an hour", host
            )
        if count >= WARNINGS_PER_HOST:
            window.suppress(host)
            return False
        return True

    def flush(self) -> None:
        """Log every summary owed now, whether or not its hour is over."""
        now = self.clock()
        for kind, window in list(self._windows.items()):
            self._summarize(kind, window, now)
            del self._windows[kind]

    def _tick(self) -> float:
        """The time now, after logging the summaries of windows that are over."""
        now = self.clock()
        for kind, window in list(self._windows.items()):
            if now - window.since >= REFUSAL_LOG_INTERVAL:
                self._summarize(kind, window, now)
                del self._windows[kind]
        return now

    def _window(self, kind: str, now: float) -> _Window:
        window = self._windows.get(kind)
        if window is None:
            window = self._windows[kind] = _Window(now)
        return window

    @staticmethod
    def _summarize(kind: str, window: _Window, now: float) -> None:
        if not window.suppressed:
            return
        _LOGGER.warning(
            "%d more %s from %s%d addresses in the last %.0f minutes (not logged one "
            "by one)",
            window.suppressed,
            kind,
            "at least " if window.more_others else "",
            len(window.others),
            (now - window.since) / 60,
        )
