"""Who was on the port lately: the last connections, what each spoke, how it ended.

An owner whose battery never shows up needs to know which of the possible stories is
theirs: nothing ever connected (the DNS override does not reach the battery),
something connected and spoke another protocol (encrypted firmware, MQTT), or a
battery connected and was refused (not on the accepted list, waiting for the owner's
yes, credentials that do not match). This log is what diagnostics, the no-battery
repair and the terminal tool read that story from. Bounded: the last
:data:`KEPT_CONNECTIONS` and a counter per kind. Peer-supplied text in it is escaped
and serials are masked where they are recorded.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

KEPT_CONNECTIONS: Final = 20


class Spoke(StrEnum):
    """What a connection turned out to be."""

    NOTHING = "nothing"  # closed (or still open) before sending a byte
    BATTERY = "battery"  # named a serial that was accepted
    REFUSED = "refused"  # named a serial that was not
    TLS = "tls"
    MQTT = "mqtt"
    HTTP = "http"
    JUNK = "junk"  # bytes that are neither our frames nor a protocol we know


@dataclass(slots=True)
class ConnectionRecord:
    """One connection, as the log shows it (serials masked, text escaped)."""

    opened_at: datetime
    peer: str
    spoke: Spoke = Spoke.NOTHING
    # A masked serial, a refusal's reason or what a foreign protocol said.
    detail: str | None = None
    ended_at: datetime | None = None
    ended: str | None = None
    # A TLS connection we answered: version, cipher and SNI (``tls_answer.py``).
    tls: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready, for diagnostics."""
        shown = {"tls": self.tls} if self.tls else {}
        return {
            **shown,
            "opened_at": self.opened_at.isoformat(),
            "peer": self.peer,
            "spoke": str(self.spoke),
            "detail": self.detail,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ended": self.ended,
        }


class ConnectionLog:
    """The last connections and how many of each kind ended since the server started."""

    def __init__(self, kept: int = KEPT_CONNECTIONS) -> None:
        """Keep the last ``kept`` connections."""
        self.recent: deque[ConnectionRecord] = deque(maxlen=kept)
        self.counts: Counter[Spoke] = Counter()

    def opened(self, peer: str, at: datetime) -> ConnectionRecord:
        """A connection came in; the record is filled in as it goes."""
        record = ConnectionRecord(at, peer)
        self.recent.append(record)
        return record

    def ended(self, record: ConnectionRecord, how: str, at: datetime) -> None:
        """A connection ended; counted under what it turned out to be."""
        if record.ended is not None:
            return
        record.ended = how
        record.ended_at = at
        self.counts[record.spoke] += 1

    def seen(self, *kinds: Spoke) -> bool:
        """Whether a connection of one of ``kinds`` is open or has ended since start."""
        return any(self.counts[k] for k in kinds) or any(
            r.spoke in kinds for r in self.recent
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, newest first, for diagnostics."""
        return {
            "counts": {str(kind): self.counts[kind] for kind in Spoke},
            "recent": [record.as_dict() for record in reversed(self.recent)],
        }
