"""Big history uploads, paced: no connection's upload holds up another's ack.

Every session shares one event loop. A 64 KiB history frame holds ~1 500 rows;
parsing them costs ~25 ms and the owner's handling of them as much or more (the
terminal ``serve`` prints each row: ~110 ms), and done in one loop step it held another
battery's acknowledgement back by a third of a second (issue #23). So, per connection:

- a history frame is parsed :data:`ROWS_PER_STEP` rows at a time, the loop getting
  its turn in between (``messages.history_steps`` stays sans-IO; the pauses are here);
- its rows reach the owner :data:`ROWS_PER_EVENT` at a time, one ``Received`` per
  slice, marked ``more`` but the last, the loop getting its turn in between: each
  slice is one bounded step of the owner's handler too. The session acknowledges a
  history frame once its last slice is handed on, so an acknowledged frame has been
  delivered, as with a frame handled in one step;
- at most :data:`ROWS_PER_MINUTE` rows a minute are parsed: past that the
  acknowledgement waits until the budget refills. The battery sends its next history
  frame only after that ack, and the session reads nothing while it waits, so nothing
  is lost and nothing piles up in memory (back-pressure, not dropping).

A battery's own frames carry three rows: they are parsed and delivered whole, as
before, and no real upload comes near the rate bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import replace
from typing import Final

from ..codec.frame import Frame
from ..codec.messages import (
    HistoryUpload,
    Message,
    decode_message,
    decode_steps,
    is_history,
)
from .events import Received, ServerEvent

# Rows parsed per loop step: ~18 µs each on a slow CPU, so well under 1 ms a step.
ROWS_PER_STEP: Final = 32
# Rows per event handed to the owner: printing a row costs the terminal server ~80 µs
# on a slow CPU, Home Assistant's backfill less; 8 keeps a step under 1 ms.
ROWS_PER_EVENT: Final = 8
# Rows a connection may upload per minute, and at once after a quiet spell. The
# longest upload Home Assistant asks for is seven days, 10 080 rows (a battery sends
# three a frame and waits for each ack): it fits the burst, however fast the link.
# Sustained, 200 rows a second is ~20 % of one slow core for the terminal server.
ROWS_PER_MINUTE: Final = 12_000
# The longest one frame's ack waits for the budget (a 64 KiB frame of junk lines holds
# ~30 000): the debt carries over to the next frame, which cannot come before the ack.
MAX_WAIT: Final = 60.0


class RowBudget:
    """A token bucket of history rows: :data:`ROWS_PER_MINUTE`, a minute's worth full."""

    def __init__(self, now: float, per_minute: int = ROWS_PER_MINUTE) -> None:
        """Start full at ``now`` (seconds on a monotonic clock)."""
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._tokens = self._capacity
        self._at = now

    def take(self, rows: int, now: float) -> float:
        """Spend ``rows``; the seconds to wait before acknowledging them (0: none).

        The budget may go into debt by one frame: the wait repays it, and the next
        frame cannot arrive before its ack.
        """
        self._tokens = min(self._capacity, self._tokens + (now - self._at) * self._rate)
        self._at = now
        self._tokens -= rows
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class Pacer:
    """One session's history pacing: decode in steps, within budget; deliver in slices."""

    def __init__(
        self,
        warn: Callable[..., None],
        label: Callable[[], str],
        ticks: Callable[[], float],
    ) -> None:
        """Warn with ``warn`` (the session's, rate-limited) the first time it waits.

        ``ticks`` is the server's monotonic clock: the budget refills by it, so a
        test decides how much time passes, not the speed of the parse.
        """
        self._ticks = ticks
        self._budget = RowBudget(ticks(), ROWS_PER_MINUTE)
        self._warn = warn
        self._label = label
        self._warned = False
        # Set when the connection is dropped: a wait for the budget ends at once, so
        # a closed or evicted connection never lingers asleep in its slot.
        self.closed = asyncio.Event()

    async def decode(self, frame: Frame) -> Message:
        """The message ``frame`` holds, as ``decode_message`` types it.

        A history upload is parsed in steps, and returns only once the connection's
        row budget allows it (the caller acknowledges after this returns).
        """
        if not is_history(frame):
            return decode_message(frame)  # one JSON object: one step
        steps = decode_steps(frame, ROWS_PER_STEP)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                message: Message = done.value
                break
            await asyncio.sleep(0)
        if isinstance(message, HistoryUpload):
            rows = len(message.rows) + len(message.malformed_rows)
            if wait := self._budget.take(rows, self._ticks()):
                if not self._warned:  # once per connection
                    self._warned = True
                    self._warn(
                        "Battery %s uploads more than %d history rows a minute; "
                        "its acknowledgements wait",
                        self._label(),
                        ROWS_PER_MINUTE,
                    )
                await self._pause(wait)
        return message

    async def _pause(self, seconds: float) -> None:
        """Wait for the budget (the session reads nothing and acks nothing meanwhile).

        At most :data:`MAX_WAIT`: a frame of junk lines can put a connection deep in
        debt, and the next one repays the rest. Ends early if the connection is closed.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(seconds, MAX_WAIT)):
                await self.closed.wait()


async def deliver(
    emit: Callable[[ServerEvent], None],
    event: Received,
    speaks: Callable[[], bool],
) -> None:
    """Hand ``event`` to the owner; a big upload in slices, one loop step each.

    The slices together are the upload: the header on each, the set-aside rows on the
    first, ``more`` on all but the last. ``speaks`` is asked before every slice after
    the first: a connection dropped or taken over in between says nothing more.
    """
    message = event.message
    if not isinstance(message, HistoryUpload) or len(message.rows) <= ROWS_PER_EVENT:
        emit(event)
        return
    rows = message.rows
    for start in range(0, len(rows), ROWS_PER_EVENT):
        if start:
            await asyncio.sleep(0)
            if not speaks():
                return
        more = start + ROWS_PER_EVENT < len(rows)
        part = replace(
            message,
            rows=rows[start : start + ROWS_PER_EVENT],
            malformed_rows=message.malformed_rows if not start else (),
            more=more,
        )
        emit(replace(event, message=part))
