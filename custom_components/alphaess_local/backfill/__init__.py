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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..battery.totals import ENERGY_TOTALS, energy_key
from ..const import DOMAIN, LOGGER, unique_id
from ..hourly_statistics import async_compiled_until, async_import_hours, retry_at
from ..protocol import AlphaServer, DetailedRecord, ServerError, mask_serial

if TYPE_CHECKING:
    from ..battery import BatteryState

GAP: Final = timedelta(minutes=2)
MAX_RESUME_MINUTES: Final = 7 * 24 * 60
BUFFER: Final = timedelta(minutes=MAX_RESUME_MINUTES)
RESUME_TIMEOUT: Final = 30.0
# An upload ends with the newest row the battery can hold, or after this much silence.
UPLOAD_QUIET: Final = 15.0
HOUR: Final = timedelta(hours=1)
ROW_SPACING: Final = timedelta(minutes=1)
# A quiet upload this far short of its end stalled (the battery may send a few rows
# fewer than asked; a dropped link leaves far more missing).
QUIET_SHORTFALL: Final = timedelta(minutes=10)
_INSTANT: Final = timedelta(microseconds=1)


def real_time(battery_time: datetime, offset: timedelta) -> datetime:
    """Battery clock (naive, drifting, no DST) to UTC, with its offset from UTC.

    The offset is measured against UTC, not local time: the battery ignores daylight
    saving, so its offset from UTC stays put when the host's local time jumps.
    """
    return (battery_time - offset).replace(tzinfo=dt_util.UTC)


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class HourEnds:
    """Each hour's last row of an upload: O(1) per row, in any order, sent twice or not.

    An hour's end total is known when its last row lies within :data:`GAP` of the end.
    """

    offset: timedelta
    last: dict[datetime, tuple[datetime, DetailedRecord]] = field(default_factory=dict)
    rows: int = 0

    def add(self, row: DetailedRecord) -> None:
        """Take one row (its time is set)."""
        assert row.time is not None  # noqa: S101 - rows without a time are malformed
        when = real_time(row.time, self.offset)
        hour = _hour(when)
        held = self.last.get(hour)
        if held is None or when > held[0]:
            self.last[hour] = (when, row)
        self.rows += 1

    def complete(self) -> dict[str, list[tuple[datetime, float]]]:
        """Per total: (hour start, total at the hour's end) for every complete hour."""
        ends: dict[str, list[tuple[datetime, float]]] = {}
        for hour in sorted(self.last):
            when, row = self.last[hour]
            if when < hour + HOUR - GAP:
                continue
            for key, attribute in ENERGY_TOTALS:
                value = getattr(row, attribute)
                if value is not None:
                    ends.setdefault(key, []).append((hour, value))
        return ends


def hour_end_totals(
    rows: list[DetailedRecord], offset: timedelta
) -> dict[str, list[tuple[datetime, float]]]:
    """Lifetime totals at the end of each complete hour ``rows`` cover, per key."""
    ends = HourEnds(offset)
    for row in rows:
        if row.time is not None:
            ends.add(row)
    return ends.complete()


@dataclass
class _Upload:
    """One battery's upload: what we asked for and what has arrived."""

    end: datetime | None  # battery time asked up to; None: an upload we did not ask for
    hours: HourEnds
    # The battery holds its newest row for this request within the minute before this
    # (battery time; see :meth:`HistoryBackfill._ask`).
    held: datetime | None = None
    seen: set[datetime] = field(default_factory=set)
    newest: datetime | None = None
    quiet_timer: CALLBACK_TYPE | None = None

    def reached(self, slack: timedelta) -> bool:
        """Whether the rows reach the newest the battery holds, give or take ``slack``.

        An upload nobody asked for has no end: whatever came is all there is.
        """
        if self.end is None or self.held is None:
            return True
        return self.newest is not None and self.newest > self.held - slack


class HistoryBackfill:
    """Decides when to ask for history and files what comes back."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        server: AlphaServer,
        on_changed: Callable[[BatteryState], None],
    ) -> None:
        """Work for one config entry's server; ``on_changed`` persists the state."""
        self._hass = hass
        self._entry = entry
        self._server = server
        self._on_changed = on_changed
        self._uploads: dict[str, _Upload] = {}
        # Asked on this connection already (a battery that did not answer is asked
        # again when it reconnects).
        self._asked: set[str] = set()
        self._filing: dict[str, _Upload] = {}
        self._retry: dict[str, CALLBACK_TYPE] = {}
        self.resumes_sent = 0
        self.resumes_answered = 0
        self.resumes_failed = 0
        self.rows_filed = 0

    @property
    def busy(self) -> bool:
        """A Resume is unanswered, an upload arriving, or rows are being filed."""
        return (
            bool(self._uploads)
            or bool(self._filing)
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
        if serial in self._asked or serial in self._uploads or serial in self._filing:
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
        self._uploads[serial] = _Upload(
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
            await self._server.resume(serial, start, minutes, timeout=RESUME_TIMEOUT)
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
        self, state: BatteryState, rows: tuple[DetailedRecord, ...]
    ) -> None:
        """Collect uploaded rows; file them once the upload is complete or goes quiet."""
        upload = self._uploads.get(state.serial)
        if upload is None:
            # Unrequested history (or after a timeout): still worth filing.
            upload = self._uploads[state.serial] = _Upload(
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
        if upload.end is not None and upload.reached(ROW_SPACING):
            self._start_filing(state, complete=True)
            return
        self._wait_quietly(state, upload)

    def _wait_quietly(self, state: BatteryState, upload: _Upload) -> None:
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
        self._filing[state.serial] = upload
        self._entry.async_create_background_task(
            self._hass,
            self._file(state, upload),
            f"{DOMAIN} import {mask_serial(state.serial)}",
        )

    async def _file(self, state: BatteryState, upload: _Upload) -> None:
        try:
            await self._file_upload(state, upload)
        finally:
            if self._filing.get(state.serial) is upload:
                del self._filing[state.serial]

    async def _file_upload(self, state: BatteryState, upload: _Upload) -> None:
        """File every complete hour the recorder has compiled; retry the rest later."""
        ends = upload.hours.complete()
        if "recorder" not in self._hass.config.components:
            LOGGER.info("The recorder is not running; history kept, not imported")
            self._settle(state, upload)
            return
        compiled = await async_compiled_until(self._hass)
        registry = er.async_get(self._hass)
        filed = 0
        waiting: datetime | None = None  # end of the first hour not compiled yet
        for key, _attribute in ENERGY_TOTALS:
            entity_id = registry.async_get_entity_id(
                "sensor", DOMAIN, unique_id(state.serial, energy_key(key))
            )
            hours = ends.get(key, [])
            ready = [h for h in hours if compiled and h[0] + HOUR <= compiled]
            if len(ready) < len(hours):
                end = hours[len(ready)][0] + HOUR
                waiting = end if waiting is None else min(waiting, end)
            if entity_id is None or not ready:
                continue
            if await async_import_hours(self._hass, entity_id, ready):
                filed += len(ready)
                until = ready[-1][0] + HOUR
                state.filed_until[key] = max(state.filed_until.get(key, until), until)
                self._on_changed(state)
        if filed:
            LOGGER.info(
                "Battery %s: recovered %d buffered minutes, %d hourly statistics",
                mask_serial(state.serial),
                upload.hours.rows,
                filed,
            )
        if waiting is not None:
            # The recorder has not compiled the newest hours yet: file them after it.
            self._retry_later(state, upload, waiting)
            return
        self._settle(state, upload)

    def _settle(self, state: BatteryState, upload: _Upload) -> None:
        """Forget the debt an upload paid off, or move it to the oldest unfiled minute.

        A complete upload (it reached the end, or the battery stopped sending) held
        everything the battery had: nothing more can be asked for. A cut one paid up to
        the hours it filed for every total.
        """
        if upload.end is not None and state.owed_from is not None:
            if state.owed_until is None or upload.end >= state.owed_until:
                state.owed_from = state.owed_until = None
            else:
                # Another gap opened while it uploaded: that part is a new request.
                state.owed_from = max(state.owed_from, upload.end)
                self._asked.discard(state.serial)
        elif state.owed_from is not None and len(state.filed_until) == len(
            ENERGY_TOTALS
        ):
            filed = min(state.filed_until.values())
            resume_at = filed.replace(tzinfo=None) + state.utc_offset
            state.owed_from = max(state.owed_from, resume_at)
            if state.owed_until is not None and state.owed_from >= state.owed_until:
                state.owed_from = state.owed_until = None
        self._on_changed(state)

    def _retry_later(
        self, state: BatteryState, upload: _Upload, hour_end: datetime
    ) -> None:
        serial = state.serial
        if cancel := self._retry.pop(serial, None):
            cancel()

        @callback
        def _again(_now: datetime) -> None:
            self._retry.pop(serial, None)
            if serial in self._filing or serial in self._uploads:
                return
            self._filing[serial] = upload
            self._entry.async_create_background_task(
                self._hass,
                self._file(state, upload),
                f"{DOMAIN} import {mask_serial(serial)}",
            )

        self._retry[serial] = async_track_point_in_utc_time(
            self._hass, _again, retry_at(dt_util.utcnow(), hour_end)
        )

    @callback
    def shutdown(self) -> None:
        """Cancel timers; what is not filed yet is still owed and asked for next time."""
        for upload in self._uploads.values():
            if upload.quiet_timer:
                upload.quiet_timer()
        for cancel in self._retry.values():
            cancel()
        self._uploads.clear()
        self._retry.clear()
        self._asked.clear()
