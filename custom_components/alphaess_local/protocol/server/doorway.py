"""The door: which new connection gets a slot, and whose unidentified one makes room.

Identified batteries are never displaced; the slots left are shared by connections
that have not named an admitted serial yet, and a LAN device can open those faster
than anything else. Measured before this module (issue #23): 249 addresses x 4
connections reconnecting at once reached ~12 000 accepts a second against 24 slots,
so a battery's new connection became the oldest unidentified one within ~2 ms and was
evicted before its login was read. Closing "the oldest" lets whoever opens fastest
decide who stays. The rules here take that decision away from the flood:

* **Grace.** A connection cannot be evicted for its first :data:`GRACE` seconds (a
  battery logs in within milliseconds of connecting). While every unidentified slot
  is in grace, newcomers are refused rather than let in, so a flood is held to
  ``slots / GRACE`` accepts a second (24 / 0.5 s = 48/s, not 12 000/s), and each
  connection it gets is held long enough to read a login from it.
* **Battery addresses.** An address where a battery proved itself (the last
  :data:`MAX_BATTERY_ADDRESSES`; its pinned login and its data, ``server.py``
  ``_battery_seen``: anything less a LAN device can do, and four addresses holding
  these privileges would hold the door against the battery) may evict even an in-grace unidentified connection of
  another address, and its own unidentified connections are evicted only for another
  battery address's. So a battery that was here before gets in on every reconnect
  whatever the flood, as long as one slot is not held by an identified battery
  (``holders.py`` keeps one for the first battery), and its login is read however
  late the loop gets to it: under a flood the loop itself lags, and a rule that only
  protects for :data:`GRACE` lost the battery in our tests when reading took longer.
  The price: a device that takes over a battery's address keeps up to
  :data:`MAX_UNIDENTIFIED_PER_HOST` slots until its connections time out.
* **Churn.** Each address has a count of connections it opened, decayed with
  :data:`CHURN_HALF_LIFE`; at :data:`CHURNING` or more it is churning, below it
  quiet. A churning address may only evict churning addresses' connections (past
  grace); a quiet one (e.g. a battery not seen since the server started) may also
  evict a churning address's connection in grace, and a quiet one's past grace.
  Flooding makes an address churning, so a flood cannot take a quiet newcomer's
  slot, however late its login is read; without this a new battery would compete
  with the flood for each slot that leaves grace and lose most of the time (48 free
  slots a second shared among ~1000 rate-limited attempts a second from 249
  addresses). Eviction takes from churning addresses first, then the oldest, so a
  device that reconnects in a loop pays for it before one that connected once.
* **Rate.** A token bucket per address: :data:`BURST` connections, then
  :data:`RATE` a second; battery addresses are exempt. The burst is large because one
  host may legitimately carry many links (a simulator, a proxy in front of several
  batteries, our own tests); the rate bounds what one address costs in sessions,
  connection-log entries and eviction work. It is defence in depth: the rules above
  hold even when the bucket is forgotten.
* **Bounds.** Addresses are the peer's to choose (IPv6 has plenty): at most
  :data:`MAX_TRACKED_ADDRESSES` are tracked, least recently seen forgotten first. A
  forgotten flood address comes back quiet with a full bucket; that costs the quiet
  rule its edge against floods from more addresses than that, never the battery
  addresses' reserved slot.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
import logging
import math
from typing import TYPE_CHECKING, Final

from .log_budget import LogBudget

if TYPE_CHECKING:
    from .session import Session

_LOGGER = logging.getLogger(__package__)

# Seconds a new connection has to identify itself before it may be evicted.
GRACE: Final = 0.5
# Unidentified connections per address: more are made room for by closing its oldest
# (an address competing with itself, so grace does not apply).
MAX_UNIDENTIFIED_PER_HOST: Final = 4
# Connections opened per address are counted with this half-life (seconds); an
# address at or above CHURNING is churning, below it quiet. A battery opens one
# connection per reconnect; CHURNING is below MAX_UNIDENTIFIED_PER_HOST so that an
# address holding several unidentified connections at once is churning before any
# of them is closed and reopened.
CHURN_HALF_LIFE: Final = 10.0
CHURNING: Final = 2.5
# Accepts per address: a burst of BURST, then RATE a second (battery addresses exempt).
BURST: Final = 32
RATE: Final = 4.0
# Per-address state kept (least recently seen forgotten first).
MAX_TRACKED_ADDRESSES: Final = 1024
# Addresses where a battery was accepted, remembered (least recently accepted first).
MAX_BATTERY_ADDRESSES: Final = 64

NO_ROOM: Final = "refused: connection limit"
TOO_FAST: Final = "refused: too many connections from its address"


def _decay(elapsed: float) -> float:
    """What is left of one connection counted ``elapsed`` seconds ago."""
    return math.exp(-max(0.0, elapsed) * math.log(2) / CHURN_HALF_LIFE)


@dataclass(slots=True)
class _Address:
    """What the door remembers of one address."""

    tokens: float
    churn: float
    at: float  # loop time tokens and churn were brought up to date


class Doorway:
    """Admission of new connections: grace, battery addresses, churn, rate."""

    def __init__(self, budget: LogBudget) -> None:
        """Log refusals within ``budget`` (the server's)."""
        self._budget = budget
        self._addresses: OrderedDict[str, _Address] = OrderedDict()
        self._batteries: OrderedDict[str, None] = OrderedDict()

    @property
    def tracked(self) -> int:
        """Addresses whose churn and rate are remembered (bounded)."""
        return len(self._addresses)

    @property
    def battery_addresses(self) -> frozenset[str]:
        """Addresses a serial was accepted from lately (bounded)."""
        return frozenset(self._batteries)

    def battery_seen(self, host: str) -> None:
        """A battery proved itself from ``host``: keep it a reserved slot."""
        self._batteries[host] = None
        self._batteries.move_to_end(host)
        while len(self._batteries) > MAX_BATTERY_ADDRESSES:
            self._batteries.popitem(last=False)

    def churn(self, host: str, now: float) -> float:
        """Decayed count of connections ``host`` opened (0 for one not tracked)."""
        entry = self._addresses.get(host)
        if entry is None:
            return 0.0
        return entry.churn * _decay(now - entry.at)

    def admit(
        self, newcomer: Session, sessions: Iterable[Session], limit: int
    ) -> str | None:
        """Let ``newcomer`` in, evicting an unidentified connection if need be.

        Returns ``None`` when it may stay, else why it is refused (for the connection
        log); the caller closes it. ``sessions`` are the open ones, ``limit`` the
        connection limit.
        """
        now = newcomer.opened_at
        host = newcomer.host
        battery = host in self._batteries
        entry = self._knock(host, now)
        if not battery:
            if entry.tokens < 1:
                self._refused(TOO_FAST, newcomer)
                return TOO_FAST
            entry.tokens -= 1
        live = [s for s in sessions if not s.evicted and s is not newcomer]
        waiting = [s for s in live if not s.identified]
        own = [s for s in waiting if s.host == host]
        if len(own) >= MAX_UNIDENTIFIED_PER_HOST:
            oldest = min(own, key=lambda s: s.opened_at)
            self._evict(oldest)
            waiting.remove(oldest)
            live.remove(oldest)
        if len(live) < limit:
            return None
        victim = self._victim(
            waiting, battery=battery, quiet=entry.churn < CHURNING, now=now
        )
        if victim is None:
            self._refused(NO_ROOM, newcomer, len(live))
            return NO_ROOM
        self._evict(victim)
        return None

    def _victim(
        self, waiting: list[Session], *, battery: bool, quiet: bool, now: float
    ) -> Session | None:
        """The unidentified connection to close for a newcomer, if any may be.

        Who may close whose (the module docstring says why): a battery address any
        other address's, and its own past grace; a quiet address a churning one's, and
        a quiet one's past grace; a churning address only a churning one's past
        grace. Among those: past grace before in grace, churning before quiet, then
        the oldest. Churn is a class, not a rank: the decayed score of a quiet address is lower the longer ago it
        connected, and ranking by it would close the newest quiet connection first.
        """
        churning: dict[str, bool] = {}
        best: tuple[bool, bool, bool, float] | None = None
        victim = None
        for session in waiting:
            host = session.host
            if host not in churning:
                churning[host] = self.churn(host, now) >= CHURNING
            reserved = host in self._batteries
            in_grace = now - session.opened_at < GRACE
            if reserved:
                eligible = battery and not in_grace
            elif battery:
                eligible = True
            elif in_grace:
                eligible = quiet and churning[host]
            else:
                eligible = quiet or churning[host]
            if not eligible:
                continue
            key = (reserved, in_grace, not churning[host], session.opened_at)
            if best is None or key < best:
                best, victim = key, session
        return victim

    def _knock(self, host: str, now: float) -> _Address:
        """Count a connection from ``host``: churn up, bucket refilled; bounded."""
        entry = self._addresses.get(host)
        if entry is None:
            entry = self._addresses[host] = _Address(float(BURST), 0.0, now)
            while len(self._addresses) > MAX_TRACKED_ADDRESSES:
                self._addresses.popitem(last=False)
        else:
            self._addresses.move_to_end(host)
            elapsed = max(0.0, now - entry.at)
            entry.churn *= _decay(elapsed)
            entry.tokens = min(float(BURST), entry.tokens + elapsed * RATE)
            entry.at = now
        entry.churn += 1
        return entry

    @staticmethod
    def _evict(session: Session) -> None:
        _LOGGER.debug("Closing unidentified connection %s to make room", session.peer)
        session.evict()

    def _refused(self, reason: str, newcomer: Session, live: int = 0) -> None:
        """One warning an hour per kind of refusal, however many addresses."""
        if not self._budget.once_an_hour(reason):
            return
        if reason == TOO_FAST:
            _LOGGER.warning(
                "Refused connection from %s: more than %d connections at once and "
                "%.0f a second from one address (further refusals are not logged "
                "for an hour)",
                newcomer.peer,
                BURST,
                RATE,
            )
        else:
            _LOGGER.warning(
                "Refused connection from %s: %d connections open and none may be "
                "closed for it (raise the connection limit for more batteries)",
                newcomer.peer,
                live,
            )
