"""Who holds a battery's serial: the allowlist, the owner's yes, proof and liveness.

A connection speaks for the first serial it names, if the allowlist and the owner's
admission policy let it, and only while no better-placed connection holds that serial
(docs/protocol.md, "Who is on the port"): one that proves the pinned credentials
takes the serial from any other at once; one with other credentials never takes it
from one that proved them; otherwise the holder keeps it while it is alive, which only
the battery's data shows (a connection that only logged in is taken over at once).
The pin is the first login whose data came, which may be a forger's: when another
login competes, the owner chooses (:meth:`SerialHolders.choose_login`) and the login
not chosen is refused.

Serials are the peer's to invent, so identified sessions could fill every slot and
lock the real battery out (30 made-up serials against 16 slots did). Some serials are
therefore *reserved*: the allowlist's, or without one the first serial whose data was
accepted (the battery the owner set up; Home Assistant asks the owner about later
ones). Another
serial is refused when admitting it would leave fewer free slots than there are
reserved serials not connected; unidentified connections do not count, the door
(``doorway.py``) evicts them for a battery.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
import logging
from typing import TYPE_CHECKING, Final

from ..codec.messages import Login
from ..codec.redact import mask_serial
from .connections import Spoke, closest_entry
from .credentials import CredentialPins, Proof
from .events import CredentialsMismatch, Refusal, Refused, ServerEvent
from .log_budget import (
    OTHER_CREDENTIALS,
    REFUSED_CREDENTIALS,
    SECOND_CONNECTION,
    UNKNOWN_SERIAL,
    LogBudget,
)

if TYPE_CHECKING:
    from .session import Session

_LOGGER = logging.getLogger(__package__)

# A serial whose connection delivered the battery's data this recently is not taken
# over by a new connection: a battery that really reconnects has a silent old link.
# Admission, logins, replies and heartbeats do not count: a squatter can send those
# forever, so a connection that never delivered data is taken over at once.
TAKEOVER_AFTER: Final = 60.0


class SerialHolders:
    """The connection holding each serial, and the rules for taking one over."""

    def __init__(
        self,
        *,
        allowlist: Collection[str] | None,
        admission: Callable[[str], bool] | None,
        pins: CredentialPins,
        budget: LogBudget,
        emit: Callable[[ServerEvent], None],
        now: Callable[[], datetime],
        capacity: Callable[[], int],
    ) -> None:
        """Hold serials by these rules; the callables are the server's.

        ``capacity`` is the connection limit, read at every login (it may change).
        """
        self.allowlist = frozenset(allowlist or ())
        self._admission = admission
        self.pins = pins
        self._budget = budget
        self._emit = emit
        self._now = now
        self._capacity = capacity
        self.by_serial: dict[str, Session] = {}
        # The first serial whose data was accepted: reserved without an allowlist.
        self.first_accepted: str | None = None

    def release(self, session: Session) -> bool:
        """``session`` ended: free its serial if it held it; return whether it did."""
        serial = session.serial
        if serial and self.by_serial.get(serial) is session:
            del self.by_serial[serial]
            return True
        return False

    def admit(self, session: Session, serial: str, login: Login | None) -> bool:
        """Attach ``serial`` to ``session`` if policy allows and the serial is free.

        Who holds a serial (docs/protocol.md, "Who is on the port"): a connection that
        proves the pinned credentials takes it from any other at once; one with other
        credentials never takes it from one that proved them; otherwise the holder
        keeps it while it is alive: a request carrying its data within
        :data:`TAKEOVER_AFTER` (``Session.alive_at``). A holder that only logged in
        is taken over at once, however recently it was admitted.
        """
        record = session.record
        record.serial = mask_serial(serial)
        if self.allowlist and serial not in self.allowlist:
            nearest = closest_entry(serial, self.allowlist)
            record.spoke, record.detail = (
                Spoke.REFUSED,
                f"not on the allowlist ({nearest})",
            )
            self._refused(session, serial, Refusal.NOT_ALLOWED)
            if self._budget.refusal(UNKNOWN_SERIAL, session.host):
                _LOGGER.warning(
                    "Refused battery %s from %s: not on the allowlist",
                    mask_serial(serial),
                    session.peer,
                )
            return False
        if self._admission is not None and not self._admission(serial):
            record.spoke, record.detail = Spoke.REFUSED, "waiting for the owner's yes"
            self._refused(session, serial, Refusal.AWAITING_OWNER)
            return False
        if not self._room_for(serial):
            record.spoke = Spoke.REFUSED
            record.detail = "the remaining slots are kept for the accepted batteries"
            self._refused(session, serial, Refusal.NO_SLOT)
            if self._budget.once_an_hour("reserved slots"):
                _LOGGER.warning(
                    "Refused battery %s from %s: the remaining connection slots are "
                    "kept for %s (raise the connection limit for more batteries)",
                    mask_serial(serial),
                    session.peer,
                    ", ".join(sorted(mask_serial(s) for s in self.reserved)),
                )
            return False
        user, password = (login.serial, login.password) if login else (None, None)
        proof = self.pins.check(serial, user, password, session.host, self._now())
        if proof is Proof.OTHER:
            self._credentials_differ(session, serial)
            # The owner's handler may have chosen this login at once (``serve
            # --accept-new-credentials``): then it proves the serial now.
            if not self.pins.has_candidate(serial):
                proof = self.pins.check(serial, user, password, session.host)
        if proof is Proof.REFUSED:
            record.spoke = Spoke.REFUSED
            record.detail = "it logged in with credentials the owner refused"
            self._refused(session, serial, Refusal.CREDENTIALS_REFUSED)
            if self._budget.refusal(REFUSED_CREDENTIALS, session.host):
                _LOGGER.warning(
                    "Refused a login for battery %s from %s: its credentials are "
                    "ones you chose not to accept",
                    mask_serial(serial),
                    session.peer,
                )
            return False
        previous = self.by_serial.get(serial)
        if previous is not None and previous is not session:
            if not self._may_take(previous, proof, session.ticks()):
                record.spoke = Spoke.REFUSED
                record.detail = f"already connected from {previous.peer}"
                self._refused(session, serial, Refusal.HELD)
                self._refuse_second(session, serial, previous)
                return False
            # The battery holds one link; a new one after silence means the old is dead.
            _LOGGER.debug(
                "Battery %s reconnected; dropping its old link", mask_serial(serial)
            )
            previous.abort("closed: a newer connection took its serial")
        session.proof = proof
        if proof is Proof.FIRST and user is not None and password is not None:
            # Pinned once this connection delivers the battery's data (delivered()):
            # a login alone, which anything on the LAN can send, earns nothing.
            session.first_login = (user, password)
        record.spoke = Spoke.BATTERY
        record.detail = _detail(proof)
        self.by_serial[serial] = session
        if session.has_delivered:  # a late login, after the battery's records
            self.delivered(session)
        return True

    def _refused(self, session: Session, serial: str, reason: Refusal) -> None:
        """Tell the owner: a battery it had may be locked out by its own settings."""
        self._emit(Refused(serial, self._now(), session.peer, reason, session.model))

    def delivered(self, session: Session) -> None:
        """``session`` sent its battery's data: the first login it made is pinned.

        From then on that login proves the serial (docs/protocol.md, "Who is on the
        port").
        """
        serial, first = session.serial, session.first_login
        session.first_login = None
        if serial is None or self.by_serial.get(serial) is not session:
            return
        if session.proof is not Proof.OTHER:
            # The battery the owner set up sends its data first; a login alone would
            # let whatever logs in first after a start own the reserved slot.
            self.first_accepted = self.first_accepted or serial
        if first is None:
            return
        user, password = first
        self.pins.accepted(serial, user, password, session.host, self._now())
        session.proof = self.pins.check(serial, user, password, session.host)
        session.record.detail = _detail(session.proof)

    @property
    def reserved(self) -> frozenset[str]:
        """Serials that always find a slot: the allowlist, else ``first_accepted``."""
        if self.allowlist:
            return self.allowlist
        return frozenset((self.first_accepted,) if self.first_accepted else ())

    def _room_for(self, serial: str) -> bool:
        """Whether ``serial`` may take a slot without taking a reserved serial's."""
        reserved = self.reserved
        if serial in reserved or serial in self.by_serial:
            return True
        missing = sum(1 for r in reserved if r not in self.by_serial)
        return len(self.by_serial) + 1 + missing <= self._capacity()

    @staticmethod
    def _may_take(previous: Session, proof: Proof, now: float) -> bool:
        """Whether a connection showing ``proof`` may take a serial ``previous`` holds.

        Only credentials that match a pin take a serial at once: a first login, with
        nothing pinned yet, waits like a connection without one.
        """
        if proof is Proof.PROVEN:
            return True
        if previous.proof is Proof.PROVEN and proof is Proof.OTHER:
            return False
        if previous.proof is Proof.OTHER and proof is Proof.NONE:
            return True  # other credentials rank below none at all
        alive = previous.alive_at
        return alive is None or now - alive >= TAKEOVER_AFTER

    def _refuse_second(self, session: Session, serial: str, previous: Session) -> None:
        if self._budget.refusal(SECOND_CONNECTION, session.host):
            _LOGGER.warning(
                "Refused a second connection for battery %s from %s: its "
                "connection from %s %s",
                mask_serial(serial),
                session.peer,
                previous.peer,
                "logged in with the credentials pinned first"
                if previous.proof is Proof.PROVEN
                else f"sent its data within {TAKEOVER_AFTER:.0f} s",
            )

    def choose_login(self, serial: str, *, first: bool, address: str) -> bool:
        """The owner chose which login for ``serial`` is the battery's.

        ``first``: the login pinned first, and the new one (last seen from
        ``address``) is refused; else the new one is pinned and the first refused.
        The connection holding the serial with the refused login is closed; one from
        ``address`` with the new login proves the serial from now on. False when the
        new login is no longer the one the owner was shown.
        """
        pins = self.pins
        chosen = (
            pins.refuse_candidate(serial, address)
            if first
            else pins.accept_candidate(serial, address)
        )
        holder = self.by_serial.get(serial)
        if not chosen or holder is None:
            return chosen
        refused = Proof.OTHER if first else Proof.PROVEN
        if holder.proof is refused:
            holder.abort("closed: the owner refused its login")
        elif not first and holder.proof is Proof.OTHER and holder.host == address:
            holder.proof = Proof.PROVEN
            holder.record.detail = _detail(holder.proof)
        return True

    def _credentials_differ(self, session: Session, serial: str) -> None:
        contest = self.pins.contest(serial)
        first, new = contest if contest else (None, None)
        if self._budget.refusal(OTHER_CREDENTIALS, session.host):
            _LOGGER.warning(
                "A connection from %s logged in as battery %s with new credentials, "
                "not the ones pinned first (last seen from %s). Until you choose which "
                "of the two logins to keep, the one pinned first keeps precedence and "
                "the new one's records move no energy totals (in Home Assistant: "
                "Settings > System > Repairs; alphaess-cloud serve: "
                "--accept-new-credentials SERIAL@ADDRESS)",
                session.host,
                mask_serial(serial),
                first.address if first else "nowhere since the server started",
            )
        self._emit(CredentialsMismatch(serial, self._now(), session.peer, first, new))


# How a served battery logged in, in the connection log's words (``Proof``).
_LOGIN_WORDS: Final = {
    Proof.NONE: "without a login",
    Proof.FIRST: "first login, pinned once it delivers data",
    Proof.PROVEN: "",
    Proof.OTHER: "logged in with credentials other than the pinned ones",
    Proof.REFUSED: "logged in with credentials the owner refused",
}


def _detail(proof: Proof) -> str:
    """How a served battery logged in (``ConnectionRecord.describe`` adds whose)."""
    return _LOGIN_WORDS[proof]
