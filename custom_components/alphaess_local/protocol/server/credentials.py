"""What a battery proves at login, pinned the first time it is accepted (sans-IO).

A serial is printed on the battery and sent in clear text with every record: anything
on the LAN can name it. The password the network stick logs in with is the one thing
an impostor does not have. So the first login accepted for a serial is pinned (a salted
hash, never the password), and from then on a connection that proves those
credentials outranks any that does not (docs/protocol.md, "Who is on the port").

The first login pinned may not be the battery's: a device can log in with its serial
and send data before the battery ever connects. So when another login competes, both
are kept (where and when each was seen) and the owner chooses; the one not chosen is
refused from then on.

The hash is one salted SHA-256: verifying runs on the event loop for every login a
peer cares to send, so it must cost microseconds, and what it protects is a stick's
cloud password kept in the same store as the rest of the owner's configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum, auto
import hashlib
import hmac
import secrets
from typing import Final

_SALT_BYTES: Final = 16
# Credentials the owner refused, kept per serial (the newest; bounded).
MAX_REFUSED: Final = 4
# How refused credentials are kept beside the pins in the same flat store (serials are
# letters and digits only, so no serial ends like this).
_REFUSED_SUFFIX: Final = "/refused"
# Where and when the pinned login was seen, kept the same way ("address first last").
_SEEN_SUFFIX: Final = "/seen"


class Proof(Enum):
    """What a connection showed of its right to a serial."""

    NONE = auto()  # no login (a battery does that after a dropped link), or not yet
    FIRST = auto()  # logged in while nothing is pinned: it will pin, it proves nothing
    PROVEN = auto()  # logged in with the pinned credentials
    OTHER = auto()  # logged in with credentials other than the pinned ones
    REFUSED = auto()  # logged in with credentials the owner refused for this serial


@dataclass(frozen=True, slots=True)
class LoginSeen:
    """Where and when one login for a serial was seen (never what it was)."""

    address: str
    first_seen: datetime
    last_seen: datetime

    def again(self, address: str, at: datetime) -> LoginSeen:
        """The same login, seen again now from ``address``."""
        return replace(self, address=address or self.address, last_seen=at)


def _digest(salt: bytes, user: str, password: str) -> str:
    material = (
        user.encode("utf-8", "replace") + b"\0" + password.encode("utf-8", "replace")
    )
    return hashlib.sha256(salt + material).hexdigest()


def _pin(user: str, password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{salt.hex()}${_digest(salt, user, password)}"


def _matches(pin: str, user: str, password: str) -> bool:
    salt, _, digest = pin.partition("$")
    try:
        raw = bytes.fromhex(salt)
    except ValueError:
        return False
    return hmac.compare_digest(digest, _digest(raw, user, password))


@dataclass(slots=True)
class _Candidate:
    """Other credentials seen for a pinned serial: the owner's to accept or refuse."""

    pin: str
    seen: LoginSeen


def _parse_seen(text: str) -> LoginSeen | None:
    """A stored sighting; ``None`` for anything damaged (it is only shown)."""
    try:
        address, first, last = text.split(" ")
        return LoginSeen(
            address, datetime.fromisoformat(first), datetime.fromisoformat(last)
        )
    except ValueError:
        return None


class CredentialPins:
    """Pinned, competing and refused credentials per serial.

    ``pins`` is what :meth:`to_store` returned before (salted hashes only);
    ``on_change`` is called whenever that changes, for the owner to save it. Only
    serials that were accepted are pinned, and only pinned serials keep a candidate,
    so a peer inventing serials grows neither. Where and when the pinned login was
    seen is stored with it (as of the last save); the competing login's only in
    memory (after a restart it logs in again before the owner is asked).
    """

    def __init__(
        self,
        pins: Mapping[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """Start from stored ``pins``."""
        self._pins: dict[str, str] = {}
        self._refused: dict[str, list[str]] = {}
        # Where and when the pinned login was seen, per serial.
        self._pinned_seen: dict[str, LoginSeen] = {}
        for key, value in (pins or {}).items():
            if key.endswith(_REFUSED_SUFFIX):
                refused = [v for v in str(value).split(",") if v][-MAX_REFUSED:]
                self._refused[key.removesuffix(_REFUSED_SUFFIX)] = refused
            elif key.endswith(_SEEN_SUFFIX):
                if (seen := _parse_seen(str(value))) is not None:
                    self._pinned_seen[key.removesuffix(_SEEN_SUFFIX)] = seen
            else:
                self._pins[key] = value
        # Per pinned serial, the other credentials last seen and where from: the
        # owner's yes is for that device only.
        self._candidates: dict[str, _Candidate] = {}
        self._on_change = on_change

    def pinned(self, serial: str) -> bool:
        """Whether ``serial`` has pinned credentials."""
        return serial in self._pins

    def check(
        self,
        serial: str,
        user: str | None,
        password: str | None,
        host: str = "",
        at: datetime | None = None,
    ) -> Proof:
        """What a login for ``serial`` from ``host`` proves (``user`` ``None``: none).

        ``at`` (host time, now by default) is when it was seen, for :meth:`contest`.
        """
        if user is None or password is None:
            return Proof.NONE
        pin = self._pins.get(serial)
        if pin is None:
            return Proof.FIRST
        at = at or datetime.now(UTC)
        if _matches(pin, user, password):
            seen = self._pinned_seen.get(serial)
            self._pinned_seen[serial] = (
                seen.again(host, at) if seen else LoginSeen(host, at, at)
            )
            return Proof.PROVEN
        if any(_matches(r, user, password) for r in self._refused.get(serial, ())):
            return Proof.REFUSED
        candidate = self._candidates.get(serial)
        if candidate is not None and _matches(candidate.pin, user, password):
            candidate.seen = candidate.seen.again(host, at)
        else:
            self._candidates[serial] = _Candidate(
                _pin(user, password), LoginSeen(host, at, at)
            )
        return Proof.OTHER

    def accepted(
        self,
        serial: str,
        user: str | None,
        password: str | None,
        host: str = "",
        at: datetime | None = None,
    ) -> None:
        """A login for ``serial`` was accepted: pin it if nothing is pinned yet."""
        if user is None or password is None or serial in self._pins:
            return
        self._pins[serial] = _pin(user, password)
        at = at or datetime.now(UTC)
        self._pinned_seen[serial] = LoginSeen(host, at, at)
        self._changed()

    def contest(self, serial: str) -> tuple[LoginSeen | None, LoginSeen] | None:
        """The login pinned first and the new one, while the owner has not chosen.

        The first is ``None`` when it was not seen since this server started.
        """
        candidate = self._candidates.get(serial)
        if candidate is None:
            return None
        return self._pinned_seen.get(serial), candidate.seen

    def accept_candidate(self, serial: str, host: str | None = None) -> bool:
        """Pin the other credentials last seen for ``serial`` (the owner said yes).

        With ``host``, only if they came from that address: the one the owner was
        shown, not whatever logged in since. The credentials pinned before are
        refused from now on.
        """
        candidate = self._candidates.get(serial)
        if candidate is None or (host is not None and candidate.seen.address != host):
            return False
        del self._candidates[serial]
        old = self._pins.get(serial)
        if old is not None:
            self._refuse(serial, old)
        self._pins[serial] = candidate.pin
        self._pinned_seen[serial] = candidate.seen
        self._changed()
        return True

    def refuse_candidate(self, serial: str, host: str | None = None) -> bool:
        """Refuse the other credentials last seen for ``serial``; the pin stays.

        With ``host``, only if they came from that address (as for
        :meth:`accept_candidate`).
        """
        candidate = self._candidates.get(serial)
        if candidate is None or (host is not None and candidate.seen.address != host):
            return False
        del self._candidates[serial]
        self._refuse(serial, candidate.pin)
        self._changed()
        return True

    def has_candidate(self, serial: str) -> bool:
        """Whether other credentials for ``serial`` wait for the owner's decision."""
        return serial in self._candidates

    def forget(self, serial: str) -> None:
        """Drop what is pinned and refused for a removed battery."""
        self._candidates.pop(serial, None)
        self._pinned_seen.pop(serial, None)
        refused = self._refused.pop(serial, None)
        if self._pins.pop(serial, None) is not None or refused:
            self._changed()

    def to_store(self) -> dict[str, str]:
        """Salted hashes by serial (and those refused), for the owner's storage."""
        stored = dict(self._pins)
        for serial, refused in self._refused.items():
            stored[serial + _REFUSED_SUFFIX] = ",".join(refused)
        for serial, seen in self._pinned_seen.items():
            if serial in self._pins:
                stored[serial + _SEEN_SUFFIX] = (
                    f"{seen.address} {seen.first_seen.isoformat()} "
                    f"{seen.last_seen.isoformat()}"
                )
        return stored

    def _refuse(self, serial: str, pin: str) -> None:
        refused = self._refused.setdefault(serial, [])
        refused.append(pin)
        del refused[:-MAX_REFUSED]

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
