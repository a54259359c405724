"""The unknown-traffic dump: what we could not decode, kept for later analysis.

One JSON object per line, personal data redacted, size-capped rotation. The server calls
:meth:`TrafficDump.write` from the event loop; the file is only touched in the loop's
default executor (Home Assistant's pool when hosted there), one append at a time, and a
flood of junk can queue at most ``max_pending`` lines (the rest are counted as dropped),
so neither the loop nor memory suffers.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
from datetime import UTC, datetime
import json
import logging
import os
from pathlib import Path
import threading
from typing import Final

from .redact import mask_serial, redact_bytes

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
DEFAULT_BACKUPS: Final = 3
DEFAULT_MAX_PENDING: Final = 1000


class TrafficDump:
    """Append-only JSON-lines file with rotation, written off the event loop."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> None:
        """Dump to ``path``, keeping ``backups`` rotated files of ``max_bytes``."""
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.dropped = 0
        self.written = 0
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._pending: set[asyncio.Future[None]] = set()
        self._closed = False

    def write(
        self,
        *,
        peer: str,
        reason: str,
        data: bytes,
        header: tuple[int, int, int] | None = None,
        serials: Iterable[str] = (),
    ) -> None:
        """Queue one entry; never blocks. ``serials`` are masked wherever they occur."""
        if self._closed or len(self._pending) >= self.max_pending:
            self.dropped += 1
            return
        known = [s for s in serials if s]
        clean = redact_bytes(data, known)
        entry: dict[str, object] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "peer": peer,
            "serial": mask_serial(known[0]) if known else None,
            "reason": reason,
            "header": list(header) if header else None,
            "length": len(data),
        }
        try:
            entry["payload"] = clean.decode("utf-8")
        except UnicodeDecodeError:
            entry["payload_base64"] = base64.b64encode(clean).decode("ascii")
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        future = asyncio.get_running_loop().run_in_executor(None, self._append, line)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)

    def _append(self, line: str) -> None:
        encoded = line.encode("utf-8")
        with self._lock:
            self._append_locked(encoded)

    def _append_locked(self, encoded: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(encoded) > self.max_bytes:
                self._rotate()
            with self.path.open("ab") as file:
                file.write(encoded)
            self.written += 1
        except OSError as err:
            _LOGGER.warning(
                "Cannot write the unknown-traffic dump %s: %s", self.path, err
            )

    def _rotate(self) -> None:
        for number in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{number}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{number + 1}"))
        if self.backups > 0:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()

    async def flush(self) -> None:
        """Wait until every queued line is on disk."""
        if self._pending:
            await asyncio.gather(*self._pending)

    async def aclose(self) -> None:
        """Stop accepting lines and wait for the queued ones."""
        self._closed = True
        await self.flush()
