"""What a battery's history still owes the statistics, kept until it is filed.

A gap in the live records (the link was down, Home Assistant was restarted) is a span
of minutes whose energy the statistics lack. It is remembered the moment it is seen,
on the battery's clock, and kept across restarts, so that whatever happens before the
battery's upload is filed, the span is asked for again rather than lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class HistoryDebt:
    """The span of battery time owed, and how far each total's statistics are filed."""

    # From the last energy record before an outage to the first record after it.
    owed_from: datetime | None = None
    owed_until: datetime | None = None
    # Per energy total: the hours before this (UTC) are filed in its statistics.
    filed_until: dict[str, datetime] = field(default_factory=dict)

    def owe(self, start: datetime, end: datetime) -> None:
        """Add ``start`` to ``end`` to the span owed (it only ever widens until paid)."""
        if self.owed_from is None or start < self.owed_from:
            self.owed_from = start
        if self.owed_until is None or end > self.owed_until:
            self.owed_until = end

    def to_store(self) -> dict[str, str]:
        """How far each total is filed, for the entry's store."""
        return {key: until.isoformat() for key, until in self.filed_until.items()}

    def restore(self, filed_until: dict[str, str]) -> None:
        """Take back what :meth:`to_store` kept."""
        for key, until in filed_until.items():
            self.filed_until[key] = datetime.fromisoformat(until)
