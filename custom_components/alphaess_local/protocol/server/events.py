"""What the server tells its owner, and the errors its command API raises.

Every event carries the battery serial (``None`` until the connection has revealed it)
and the host's clock at receipt: the battery's own clock drifts and cannot be trusted
for ordering across batteries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ..codec.frame import CorruptBytes
from ..codec.messages import Message
from ..codec.recognize import Foreign
from .credentials import LoginSeen


@dataclass(frozen=True, slots=True)
class Received:
    """A decoded message from a battery."""

    serial: str | None
    received_at: datetime
    peer: str
    message: Message
    # Sent by a connection that logged in with credentials other than the pinned
    # ones: shown, but moving no lifetime totals until the owner chooses.
    unpinned: bool = False


@dataclass(frozen=True, slots=True)
class Corrupted:
    """Bytes that were not a valid frame (bad header, CRC mismatch, oversized)."""

    serial: str | None
    received_at: datetime
    peer: str
    corrupt: CorruptBytes


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A battery's connection ended (closed by it, idle timeout, or server close)."""

    serial: str
    received_at: datetime
    peer: str


@dataclass(frozen=True, slots=True)
class ForeignProtocol:
    """A connection opened with another protocol (TLS, MQTT, HTTP) and was closed.

    A battery whose firmware encrypts its link shows up as this, not as a battery.
    """

    serial: None
    received_at: datetime
    peer: str
    foreign: Foreign
    # The first from this address and protocol this hour (the one that was logged).
    first: bool = True


@dataclass(frozen=True, slots=True)
class CredentialsMismatch:
    """A login for ``serial`` with credentials other than the ones pinned for it.

    Two logins compete for the serial: the one pinned first (``first``, ``None``
    when not seen since the server started) and the new one (``new``). Either may be
    the battery: an impostor may have logged in and sent data before the battery
    ever did, or the owner reset the network stick and its password changed. Only
    the owner can tell, so it is theirs to choose (``SerialHolders.choose_login``).
    """

    serial: str
    received_at: datetime
    peer: str
    first: LoginSeen | None = None
    new: LoginSeen | None = None


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Settings the vendor cloud sent a battery, through a SetConfig the owner passed.

    The battery applies them and reports back as for any change; this says who made
    it, for the owner's change log.
    """

    serial: str
    received_at: datetime
    peer: str
    settings: dict[str, object]


class Refusal(StrEnum):
    """Why a connection was refused the serial it named."""

    NOT_ALLOWED = "not_allowed"  # not on the allowlist
    AWAITING_OWNER = "awaiting_owner"  # the admission policy said no (for now)
    NO_SLOT = "no_slot"  # the remaining slots are kept for the reserved serials
    CREDENTIALS_REFUSED = "credentials_refused"  # a login the owner refused
    HELD = "held"  # another live connection holds the serial


@dataclass(frozen=True, slots=True)
class Refused:
    """A connection named a serial and was refused it; it is closed.

    The serial is the peer's word: an owner acts on it only for a battery it knows.
    """

    serial: str
    received_at: datetime
    peer: str
    reason: Refusal
    # The battery model, when the refused connection's first record named it (its
    # system report): the peer's word, for the owner deciding whether it is theirs.
    model: str | None = None


type ServerEvent = (
    Received
    | Corrupted
    | Disconnected
    | ForeignProtocol
    | CredentialsMismatch
    | CloudSettings
    | Refused
)


class ServerError(Exception):
    """Base class of the server's errors."""


class BatteryNotConnectedError(ServerError):
    """A command was addressed to a battery with no open connection."""


class CommandTimeoutError(ServerError, TimeoutError):
    """The battery did not answer a command in time."""
