"""Who was on the port lately: the last connections, what each spoke, how it ended.

An owner whose battery never shows up needs to know which of the possible stories is
theirs: nothing ever connected (the DNS override does not reach the battery),
something connected and spoke another protocol (encrypted firmware, MQTT), or a
battery connected and was refused (not on the accepted list, waiting for the owner's
yes, credentials that do not match). This log is what diagnostics, the no-battery
repair and the terminal tool read that story from, each line in words an owner reads
("battery AL90*********42 served"). Bounded: the last :data:`KEPT_CONNECTIONS`
(open ones are kept before ended ones) and a counter per kind. Peer-supplied text in
it is escaped and serials are masked where they are recorded.

The log may outlive a server: Home Assistant hands the same log to the server it
builds on an options reload, so saving options to fix a refusal keeps the evidence.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from difflib import SequenceMatcher
from enum import StrEnum
from typing import Final

from ..codec.redact import mask_serial

KEPT_CONNECTIONS: Final = 20
# Differing characters named in a refusal's line at most: more, and the closest
# entry is not a typo of the serial, so positions would say nothing.
MAX_DIFFERENCES_SHOWN: Final = 3


class Spoke(StrEnum):
    """What a connection turned out to be."""

    NOTHING = "nothing"  # closed (or still open) before sending a byte
    BATTERY = "battery"  # named a serial that was accepted
    REFUSED = "refused"  # named a serial that was not
    TLS = "tls"
    MQTT = "mqtt"
    HTTP = "http"
    JUNK = "junk"  # bytes that are neither our frames nor a protocol we know


_FOREIGN: Final = frozenset({Spoke.TLS, Spoke.MQTT, Spoke.HTTP})


@dataclass(slots=True)
class ConnectionRecord:
    """One connection, as the log shows it (serials masked, text escaped)."""

    opened_at: datetime
    peer: str
    spoke: Spoke = Spoke.NOTHING
    # A battery's served line, a refusal's reason or what a foreign protocol said.
    detail: str | None = None
    ended_at: datetime | None = None
    ended: str | None = None
    # A TLS connection we answered: version, cipher and SNI (``tls_answer.py``).
    tls: str | None = None
    # The serial it named, masked: a refusal's line says whose it was.
    serial: str | None = None

    def describe(self) -> str:
        """What the connection was, in words: never empty, never ``None``."""
        detail = self.detail or ""
        match self.spoke:
            case Spoke.NOTHING:
                return "sent nothing" if self.ended else "connected, nothing sent yet"
            case Spoke.BATTERY:
                return f"battery {self.serial or '<unknown>'} served" + (
                    f" ({detail})" if detail else ""
                )
            case Spoke.REFUSED:
                whose = f"battery {self.serial}" if self.serial else "connection"
                return f"{whose} refused: {detail or 'no reason recorded'}"
            case Spoke.JUNK:
                return f"not our protocol: {detail or 'unreadable bytes'}"
        # TLS, MQTT, HTTP: ``Foreign.describe`` starts with the protocol's name.
        return f"other protocol: {detail or self.spoke.name}"

    def as_dict(self) -> dict[str, str | None]:
        """JSON-ready, for diagnostics."""
        shown = {"tls": self.tls} if self.tls else {}
        return {
            **shown,
            "opened_at": self.opened_at.isoformat(),
            "peer": self.peer,
            "spoke": str(self.spoke),
            "detail": self.describe(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "ended": self.ended,
        }


class ConnectionLog:
    """The last connections and how many of each kind ended since the log began."""

    def __init__(self, kept: int = KEPT_CONNECTIONS) -> None:
        """Keep the last ``kept`` connections."""
        self.kept = kept
        self.recent: deque[ConnectionRecord] = deque()
        # Ended connections by kind since the log began (``seen``, the tests' waits).
        self.counts: Counter[Spoke] = Counter()
        # Connections no longer listed, by the kind they had when they left the list.
        self.earlier: Counter[Spoke] = Counter()

    def opened(self, peer: str, at: datetime) -> ConnectionRecord:
        """A connection came in; the record is filled in as it goes."""
        if len(self.recent) >= self.kept:
            self._drop_one()
        record = ConnectionRecord(at, peer)
        self.recent.append(record)
        return record

    def _drop_one(self) -> None:
        """Make room: the oldest ended line goes, so a live battery stays listed."""
        victim = next((r for r in self.recent if r.ended is not None), self.recent[0])
        self.recent.remove(victim)
        self.earlier[victim.spoke] += 1

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
        """JSON-ready, newest first, for diagnostics.

        ``counts`` are counted from the lines listed, so the two always agree;
        ``earlier`` counts the connections that no longer fit the list.
        """
        listed = Counter(record.spoke for record in self.recent)
        return {
            "counts": {str(kind): listed[kind] for kind in Spoke},
            "earlier": {str(kind): self.earlier[kind] for kind in Spoke},
            "recent": [record.as_dict() for record in reversed(self.recent)],
        }


def closest_entry(serial: str, allowlist: frozenset[str]) -> str:
    """A refusal's words for the allowlist entry ``serial`` came closest to.

    Both are masked the same way; where the mask hides what differs (a case or a
    digit in the middle), the positions that differ are named instead, so an owner
    sees their typo without the log holding a serial.
    """
    if not allowlist:
        return ""
    # Bounded: serials are at most MAX_SERIAL_LENGTH long (``_refuse_serial``) and the
    # allowlist is the owner's own short list; sorted, so ties are stable.
    best = max(
        sorted(allowlist),
        key=lambda entry: SequenceMatcher(None, serial, entry, autojunk=False).ratio(),
    )
    words = f"closest entry: {mask_serial(best)}"
    if len(best) != len(serial):
        return (
            f"{words}, {len(best)} characters long, the battery's serial {len(serial)}"
        )
    differ = [i for i, (a, b) in enumerate(zip(serial, best, strict=True)) if a != b]
    if not differ or len(differ) > MAX_DIFFERENCES_SHOWN:
        return words
    where = " and ".join(str(i + 1) for i in differ)
    case = (
        " (upper/lower case)"
        if all(serial[i].casefold() == best[i].casefold() for i in differ)
        else ""
    )
    plural = "s" if len(differ) > 1 else ""
    return f"{words}, differs at character{plural} {where}{case}"
