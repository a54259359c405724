"""What a battery proves at login, pinned the first time it is accepted (sans-IO).

A serial is printed on the battery and sent in clear text with every record: anything
on the LAN can name it. The password the network stick logs in with is the one thing
an impostor does not have. So the first login accepted for a serial is pinned (a salted
hash, never the password), and from then on a connection that proves those
credentials outranks any that does not (docs/protocol.md, "Who is on the port").

The hash is one salted SHA-256: verifying runs on the event loop for every login a
peer cares to send, so it must cost microseconds, and what it protects is a stick's
cloud password kept in the same store as the rest of the owner's configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum, auto
import hashlib
import hmac
import secrets
from typing import Final

_SALT_BYTES: Final = 16


class Proof(Enum):
    """What a connection showed of its right to a serial."""

    NONE = auto()  # no login (a battery does that after a dropped link), or not yet
    FIRST = auto()  # logged in while nothing is pinned: it will pin, it proves nothing
    PROVEN = auto()  # logged in with the pinned credentials
    OTHER = auto()  # logged in with credentials other than the pinned ones


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


class CredentialPins:
    """Pinned credentials per serial, and the last other credentials seen for each.

    ``pins`` is what :meth:`to_store` returned before (salted hashes only);
    ``on_change`` is called whenever that changes, for the owner to save it. Only
    serials that were accepted are pinned, and only pinned serials keep a candidate,
    so a peer inventing serials grows neither.
    """

    def __init__(
        self,
        pins: Mapping[str, str] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """Start from stored ``pins``."""
        self._pins = dict(pins or {})
        # Per pinned serial, the other credentials last seen and the address they
        # came from: the owner's yes is for that device only.
        self._candidates: dict[str, tuple[str, str]] = {}
        self._on_change = on_change

    def pinned(self, serial: str) -> bool:
        """Whether ``serial`` has pinned credentials."""
        return serial in self._pins

    def check(
        self, serial: str, user: str | None, password: str | None, host: str = ""
    ) -> Proof:
        """What a login for ``serial`` from ``host`` proves (``user`` ``None``: none)."""
        if user is None or password is None:
            return Proof.NONE
        pin = self._pins.get(serial)
        if pin is None:
            return Proof.FIRST
        if _matches(pin, user, password):
            return Proof.PROVEN
        self._candidates[serial] = (host, _pin(user, password))
        return Proof.OTHER

    def accepted(self, serial: str, user: str | None, password: str | None) -> None:
        """A login for ``serial`` was accepted: pin it if nothing is pinned yet."""
        if user is None or password is None or serial in self._pins:
            return
        self._pins[serial] = _pin(user, password)
        self._changed()

    def accept_candidate(self, serial: str, host: str | None = None) -> bool:
        """Pin the other credentials last seen for ``serial`` (the owner said yes).

        With ``host``, only if they came from that address: the one the owner was
        shown, not whatever logged in since.
        """
        candidate = self._candidates.get(serial)
        if candidate is None or (host is not None and candidate[0] != host):
            return False
        del self._candidates[serial]
        self._pins[serial] = candidate[1]
        self._changed()
        return True

    def has_candidate(self, serial: str) -> bool:
        """Whether other credentials for ``serial`` wait for the owner's decision."""
        return serial in self._candidates

    def forget(self, serial: str) -> None:
        """Drop what is pinned for a removed battery."""
        self._candidates.pop(serial, None)
        if self._pins.pop(serial, None) is not None:
            self._changed()

    def to_store(self) -> dict[str, str]:
        """Salted hashes by serial, for the owner's storage."""
        return dict(self._pins)

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()
