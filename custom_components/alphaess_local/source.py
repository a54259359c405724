"""What the coordinator needs from where a battery's data comes, and nothing more.

The cloud listener (``cloud_source.py``) is one source: the battery connects to us
and pushes. A reader that polls the battery over Modbus would be another. The
coordinator turns a source's events into state and entities whatever the source, so
it knows a source by this protocol alone. What not every source can do is a
capability that is ``None`` when the source lacks it: a Modbus reader cannot ask for
buffered history, relay to the vendor cloud or pin a login, and the coordinator then
does without (no backfill, no relay counts, nothing to store).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from .protocol import CredentialPins, RelayStats, ServerEvent

type EventCallback = Callable[[ServerEvent], None]


class Capability(StrEnum):
    """What a source can feed that not every source can: entities that need it.

    An entity whose description requires a capability the entry's source lacks is
    never created, rather than created and left "unknown" for good.
    """

    # The battery's own event log (the cloud link sends it; Modbus has none).
    EVENT_LOG = "event_log"
    # Minutes the battery buffered while unheard, asked for afterwards.
    HISTORY = "history"
    # Forwarding to the vendor cloud.
    RELAY = "relay"
    # Values only the cloud link's records carry: the EMS's status and errors, the
    # meter's and backup box's errors, remote dispatch, apparent and reactive power,
    # usable capacity. The inverter's Modbus registers hold none of them.
    CLOUD_RECORDS = "cloud_records"


class HistoryRequests(Protocol):
    """A source that can ask a battery for the minutes it buffered while unheard."""

    async def resume(
        self, serial: str, start: datetime, minutes: int, *, timeout: float = ...
    ) -> object:
        """Ask for ``minutes`` from ``start`` (battery clock); the rows come as events.

        Raises the library's ``ServerError`` when the battery does not take it.
        """


class SettingsChannel(Protocol):
    """A source that can change a battery's settings (opt-in control)."""

    def hand_config(self, serial: str, settings: Mapping[str, object]) -> None:
        """Give ``settings`` to the battery when it next asks for its configuration."""

    def withdraw_config(self, serial: str) -> None:
        """Take back settings handed over but never asked for (a change that failed)."""

    async def set_config(self, serial: str, *, timeout: float = ...) -> object:
        """Make the battery ask for (and apply) its configuration now."""


class RelayCounts(Protocol):
    """A source that relays each battery to the vendor cloud, and counts how it goes."""

    @property
    def relay_stats(self) -> Mapping[str, RelayStats]:
        """Per serial, the relay's link and counts."""


class PinHolder(Protocol):
    """A source that pins the credentials each battery proved at its first login.

    The pins are the entry's to keep across restarts (``entry_store.py``).
    """

    pins: CredentialPins


class Source(Protocol):
    """Where one config entry's batteries' data comes from."""

    history: HistoryRequests | None
    settings: SettingsChannel | None
    relay: RelayCounts | None
    pins: PinHolder | None
    capabilities: frozenset[Capability]

    @property
    def connected_serials(self) -> frozenset[str]:
        """Batteries the source is in touch with now (a removed one would return)."""

    async def start(self, on_event: EventCallback, *, heard: bool) -> None:
        """Start delivering events to ``on_event``, in the event loop.

        ``heard``: a battery of the entry has delivered data before, so its absence
        is not news. Raises ``ConfigEntryNotReady`` when the source cannot start.
        """

    async def stop(self) -> None:
        """Stop delivering events and release what the source holds."""

    def expect(self, batteries: Collection[str]) -> None:
        """The batteries the entry knows: a source makes room for at least these."""

    def forget(self, serial: str) -> None:
        """The owner removed battery ``serial``: drop what the source keeps of it."""
