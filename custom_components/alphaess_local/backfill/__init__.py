"""No gaps: fetch the minutes a battery buffered while offline and file them by hour.

After any outage (Wi-Fi, router, Home Assistant restart) the battery still holds its
one-minute records. When a record arrives more than two minutes after the one before,
the minutes in between are *owed*: that span is stored at once (it survives restarts)
and asked for with ``Resume``; the rows that come back are filed into the hourly
statistics of our own energy sensors, so the Energy dashboard shows the battery's
figures for the hours Home Assistant missed.

The debt is only settled by filing: an upload cut by a restart or a dropped link, a
Resume the battery does not answer, an hour the recorder has not compiled yet, a
sensor whose import did not happen: each is asked for (or filed) again, from the oldest
unfiled minute, until done or older than the battery's 7-day buffer.

Work per history frame is proportional to its rows: each row only replaces its hour's
last row. Filing handles one row per hour. Writing statistics runs in the recorder's
thread, behind the recorder's own compile (:mod:`.hourly_statistics`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
import math
from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, LOGGER
from ..hourly_statistics import async_import_hours
from ..protocol import DetailedRecord, ServerError, mask_serial
from ..source import HistoryRequests
from .filing import HourFiler
from .hours import GAP, HOUR, HourEnds, hour_end_totals, real_time
from .upload import Upload

if TYPE_CHECKING:
    from ..battery import BatteryState

MAX_RESUME_MINUTES: Final = 7 * 24 * 60
BUFFER: Final = timedelta(minutes=MAX_RESUME_MINUTES)
RESUME_TIMEOUT: Final = 30.0
# An upload ends with the newest row the battery can hold, or after this much silence.
UPLOAD_QUIET: Final = 15.0
ROW_SPACING: Final = timedelta(minutes=1)
# A quiet upload this far short of its end stalled (the battery may send a few rows
# fewer than asked; a dropped link leaves far more missing).
QUIET_SHORTFALL: Final = timedelta(minutes=10)
_INSTANT: Final = timedelta(microseconds=1)


__all__ = [
    "GAP",
    "HOUR",
    "HistoryBackfill",
    "HourEnds",
    "hour_end_totals",
    "real_time",
]


class HistoryBackfill:
    """Decides when to ask for history and collects what comes back for filing."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        requests: HistoryRequests,
        on_changed: Callable[[BatteryState], None],
    ) -> None:
        """Ask through the entry's source; ``on_changed`` persists the state."""
        self._hass = hass
        self._entry = entry
        self._requests = requests
        self._on_changed = on_changed
        self._uploads: dict[str, Upload] = {}
        # Asked on this connection already (a battery that did not answer is asked
        # again when it reconnects).
        self._asked: set[str] = set()
        self._filer = HourFiler(
            hass,
            entry,
            # Looked up at call time: tests put a stalling import in its place.
            import_hours=lambda *args: async_import_hours(*args),
            on_changed=on_changed,
            ask_again=self._asked.discard,
            uploading=self._uploads.__contains__,
        )
        self.resumes_sent = 0
        self.resumes_answered = 0
        self.resumes_failed = 0
        self.rows_filed = 0

    @property
    def busy(self) -> bool:
        """A Resume is unanswered, an upload arriving, or rows are being filed."""
        return (
            bool(self._uploads)
            or self._filer.busy
            or self.resumes_sent > self.resumes_answered + self.resumes_failed
        )

    def rows_arrived(self, serial: str) -> int:
        """Rows of the upload now arriving from ``serial``."""
        upload = self._uploads.get(serial)
        return upload.hours.rows if upload else 0

    # --- when to ask ----------------------------------------------------------------

    @callback
    def record_seen(self, state: BatteryState, battery_time: datetime) -> None:
        """A record that fits the battery's clock arrived: after a gap, ask for more.

        Only records :meth:`BatteryState.admit` let through come here, so a forged
        timestamp can neither move the watermark nor fake a gap.
        """
        previous = state.newest_record
        if previous is None or battery_time > previous:
            state.newest_record = battery_time
        start = state.newest_energy_record
        if previous is not None and start is not None and battery_time - previous > GAP:
            self._owe(state, start, battery_time)
        if state.owed_from is not None:
            self._ask(state)

    def _owe(self, state: BatteryState, start: datetime, end: datetime) -> None:
        """Remember the span now, so a restart before filing cannot lose it."""
        state.debt.owe(start, end)
        self._on_changed(state)

    def _ask(self, state: BatteryState) -> None:
        serial = state.serial
        if (
            serial in self._asked
            or serial in self._uploads
            or self._filer.filing(serial)
        ):
            return
        start, end = state.owed_from, state.owed_until
        if start is None or end is None:
            return
        if end - start > BUFFER:
            LOGGER.warning(
                "Battery %s: minutes before %s are beyond the battery's 7-day buffer; "
                "they cannot be recovered",
                mask_serial(serial),
                end - BUFFER,
            )
            start = state.owed_from = end - BUFFER
        # A minute more than the span: its start is rarely on a whole minute, and the
        # battery's rows have seconds of their own (asked from 09:40:13, one sent rows
        # 09:40:59 to 10:00:08). So the newest row it holds is not in the last minute
        # asked for, but within the minute before its newest record.
        minutes = math.ceil((end - start).total_seconds() / 60) + 1
        asked_until = start + timedelta(minutes=minutes)
        newest = max(end, state.newest_record or end)
        self._asked.add(serial)
        self._uploads[serial] = Upload(
            end=asked_until,
            hours=HourEnds(state.utc_offset),
            held=min(newest, asked_until - _INSTANT),
        )
        self._entry.async_create_background_task(
            self._hass,
            self._resume(state, start, minutes),
            f"{DOMAIN} resume {mask_serial(serial)}",
        )

    async def _resume(self, state: BatteryState, start: datetime, minutes: int) -> None:
        serial = state.serial
        LOGGER.info(
            "Battery %s was out of reach; asking for %d buffered minutes from %s",
            mask_serial(serial),
            minutes,
            start,
        )
        self.resumes_sent += 1
        try:
            await self._requests.resume(serial, start, minutes, timeout=RESUME_TIMEOUT)
        except ServerError as err:
            self.resumes_failed += 1
            LOGGER.warning(
                "Battery %s did not accept the history request (%s); asking again "
                "when it reconnects",
                mask_serial(serial),
                err,
            )
            # Its rows may still come (a reply lost on the way): give them the quiet
            # spell; with none, the request is forgotten and the debt stays.
            if (upload := self._uploads.get(serial)) is not None and not upload.seen:
                self._wait_quietly(state, upload)
        else:
            self.resumes_answered += 1

    @callback
    def disconnected(self, state: BatteryState) -> None:
        """File what arrived; the rest is asked for again on the next connection."""
        self._asked.discard(state.serial)
        if state.serial in self._uploads:
            self._start_filing(state, complete=False)

    # --- what comes back ------------------------------------------------------------

    @callback
    def rows_received(
        self,
        state: BatteryState,
        rows: tuple[DetailedRecord, ...],
        *,
        more: bool = False,
    ) -> None:
        """Collect uploaded rows; file them once the upload is complete or goes quiet.

        ``more``: the rows are a slice of a big frame whose next slice follows (the
        library delivers big frames in slices). The frame is judged complete only at
        its last slice, as it would be whole: rows after the end in the same frame
        still join this upload instead of starting another.
        """
        upload = self._uploads.get(state.serial)
        if upload is None:
            # Unrequested history (or after a timeout): still worth filing.
            upload = self._uploads[state.serial] = Upload(
                end=None, hours=HourEnds(state.utc_offset)
            )
        for row in rows:
            time = row.time
            if time is None or time in upload.seen:
                continue  # a row sent twice counts once
            upload.seen.add(time)
            # Only credible rows reach the statistics (docs/backfill.md).
            if not state.apply_history_row(row):
                continue
            upload.hours.add(row)
            if upload.newest is None or time > upload.newest:
                upload.newest = time
        # Rows are a minute apart: the newest the battery holds ends the upload.
        if not more and upload.end is not None and upload.reached(ROW_SPACING):
            self._start_filing(state, complete=True)
            return
        self._wait_quietly(state, upload)

    def _wait_quietly(self, state: BatteryState, upload: Upload) -> None:
        """File the upload once no row came for a while; forget it if none ever came."""
        if upload.quiet_timer:
            upload.quiet_timer()

        @callback
        def _quiet(_now: datetime) -> None:
            upload.quiet_timer = None
            if not upload.seen:
                if self._uploads.get(state.serial) is upload:
                    del self._uploads[state.serial]
                return
            # Far short of the end, the upload stalled: what is missing stays owed.
            self._start_filing(state, complete=upload.reached(QUIET_SHORTFALL))

        upload.quiet_timer = async_track_point_in_utc_time(
            self._hass, _quiet, dt_util.utcnow() + timedelta(seconds=UPLOAD_QUIET)
        )

    def _start_filing(self, state: BatteryState, *, complete: bool) -> None:
        upload = self._uploads.pop(state.serial, None)
        if upload is None:
            return
        if upload.quiet_timer:
            upload.quiet_timer()
            upload.quiet_timer = None
        self.rows_filed += upload.hours.rows
        if not complete:
            upload.end = None  # a cut upload settles nothing beyond what it filed
        self._filer.start(state, upload)

    @callback
    def shutdown(self) -> None:
        """Cancel timers; what is not filed yet is still owed and asked for next time."""
        for upload in self._uploads.values():
            if upload.quiet_timer:
                upload.quiet_timer()
        self._filer.shutdown()
        self._uploads.clear()
        self._asked.clear()
