"""The unknown-traffic dump: what we could not decode, kept for later analysis.

One JSON object per line, personal data redacted, size-capped lines and rotation. The
server calls :meth:`TrafficDump.write` from the event loop for bytes any LAN peer chose,
so everything here is bounded: the loop only redacts and encodes the head of a payload
that fits in one line (``max_line_bytes``), at most ``max_pending`` lines wait (the rest
are counted as dropped), and the file is only touched in the loop's default executor
(Home Assistant's pool when hosted there) by one job at a time, so lines land in the
order they were written.
"""

from __future__ import annotations

import asyncio
import base64
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime
import json
import logging
import os
from pathlib import Path
from typing import Final

from ..codec.redact import mask_serial, redact_head, redact_text

_LOGGER = logging.getLogger(__name__)

DEFAULT_MAX_BYTES: Final = 5 * 1024 * 1024
DEFAULT_BACKUPS: Final = 3
DEFAULT_MAX_PENDING: Final = 1000
DEFAULT_MAX_LINE_BYTES: Final = 64 * 1024
# Reasons are ours, but may quote a peer's key; the payload is where the bytes belong.
_MAX_REASON: Final = 200


class TrafficDump:
    """Append-only JSON-lines file with rotation, written off the event loop."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        backups: int = DEFAULT_BACKUPS,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ) -> None:
        """Dump to ``path``, keeping ``backups`` rotated files of ``max_bytes``.

        A line never exceeds ``max_line_bytes`` nor ``max_bytes``, so no file does.
        """
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.max_pending = max_pending
        self.max_line_bytes = max_line_bytes
        self.dropped = 0
        self.written = 0
        self._closed = False
        # Encoded lines waiting for the writer, oldest first.
        self._queue: deque[bytes] = deque()
        # The one executor job writing a batch; it starts the next batch when done.
        self._job: asyncio.Future[int] | None = None
        self._in_flight = 0
        # Lines accepted and lines the writer is done with (written or failed), so that
        # flush() waits for what was queued when it was called, not for a flood after.
        self._accepted = 0
        self._settled = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._failing = False  # touched by the writer job only, one at a time

    @property
    def pending(self) -> int:
        """Lines accepted but not yet written: the bounded backlog."""
        return len(self._queue) + self._in_flight

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
        if self._closed or self.pending >= self.max_pending:
            self.dropped += 1
            return
        line = self._encode(peer, reason, data, header, [s for s in serials if s])
        if line is None:
            self.dropped += 1
            return
        self._queue.append(line)
        self._accepted += 1
        if self._job is None:
            self._start(asyncio.get_running_loop())

    def _encode(
        self,
        peer: str,
        reason: str,
        data: bytes,
        header: tuple[int, int, int] | None,
        known: list[str],
    ) -> bytes | None:
        """One line within ``max_line_bytes`` and ``max_bytes``; ``None`` if none fits.

        The payload is redacted as raw bytes before it is encoded, so a serial inside a
        non-UTF-8 payload is masked before base64 could hide it from any later pass.
        """
        cap = min(self.max_line_bytes, self.max_bytes)
        clean, whole = redact_head(data, cap, known)
        entry: dict[str, object] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "peer": peer,
            "serial": mask_serial(known[0]) if known else None,
            "reason": redact_text(reason[:_MAX_REASON], known),
            "header": list(header) if header else None,
            "length": len(data),
            "truncated": not whole,
        }
        try:
            text: str | None = clean.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        key = "payload" if text is not None else "payload_base64"
        if text is not None:
            line = _line(entry, key, text)
        else:
            line = _line(entry, key, base64.b64encode(clean).decode("ascii"))
        if len(line) <= cap:
            return line
        entry["truncated"] = True
        budget = cap - len(_line(entry, key, ""))
        if budget < 0:
            return None
        if text is not None:
            return _line(entry, key, _fit(text, budget))
        keep = budget // 4 * 3  # base64 turns every 3 bytes into 4 characters
        return _line(entry, key, base64.b64encode(clean[:keep]).decode("ascii"))

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand everything queued to one job: a single writer is what keeps order."""
        batch = list(self._queue)
        self._queue.clear()
        try:
            job = loop.run_in_executor(None, self._write_lines, batch)
        except RuntimeError:  # the executor is shut down: the loop is stopping
            self._settle(len(batch), 0)
            return
        self._in_flight = len(batch)
        self._job = job
        job.add_done_callback(self._job_done)

    def _job_done(self, job: asyncio.Future[int]) -> None:
        count, self._in_flight, self._job = self._in_flight, 0, None
        written = 0
        if not job.cancelled():
            if (err := job.exception()) is not None:
                _LOGGER.error(
                    "Unexpected error writing the unknown-traffic dump %s",
                    self.path,
                    exc_info=err,
                )
            else:
                written = job.result()
        self._settle(count, written)
        if self._queue:
            self._start(job.get_loop())

    def _settle(self, count: int, written: int) -> None:
        """Account for a finished batch and wake the flushes it completes."""
        self.written += written
        self.dropped += count - written
        self._settled += count
        waiting: list[tuple[int, asyncio.Future[None]]] = []
        for target, waiter in self._waiters:
            if waiter.done():  # its flush was cancelled
                continue
            if target <= self._settled:
                waiter.set_result(None)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting

    def _write_lines(self, lines: list[bytes]) -> int:
        """Append ``lines`` in order, rotating between them; return how many landed.

        Runs in the executor, never two at once, so it needs no lock.
        """
        written = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            chunk: list[bytes] = []
            for line in lines:
                if size and size + len(line) > self.max_bytes:
                    written += self._append(chunk)
                    chunk = []
                    self._rotate()
                    size = 0
                chunk.append(line)
                size += len(line)
            written += self._append(chunk)
        except OSError as err:
            if not self._failing:
                _LOGGER.warning(
                    "Cannot write the unknown-traffic dump %s: %s", self.path, err
                )
            self._failing = True
        else:
            self._failing = False
        return written

    def _append(self, lines: list[bytes]) -> int:
        if lines:
            with self.path.open("ab") as file:
                file.write(b"".join(lines))
        return len(lines)

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
        """Wait until every line queued so far is on disk (or has failed to get there)."""
        if self._settled >= self._accepted:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((self._accepted, waiter))
        await waiter

    async def aclose(self) -> None:
        """Stop accepting lines and wait for the queued ones."""
        self._closed = True
        await self.flush()


def _line(entry: dict[str, object], key: str, payload: str) -> bytes:
    return (json.dumps({**entry, key: payload}, ensure_ascii=True) + "\n").encode(
        "utf-8", "replace"
    )


def _fit(text: str, budget: int) -> str:
    """A start of ``text`` whose JSON string body fits in ``budget`` bytes.

    Escaped control characters (six bytes each) and multi-byte characters make the
    encoded size differ from the length; shrinking by the measured ratio converges in a
    few steps.
    """
    keep = min(len(text), budget)
    while keep > 0:
        size = len(
            json.dumps(text[:keep], ensure_ascii=True).encode("utf-8", "replace")
        )
        size -= 2  # the quotes
        if size <= budget:
            return text[:keep]
        keep = min(keep - 1, keep * budget // size)
    return ""
