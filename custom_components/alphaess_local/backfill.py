"""No gaps: fetch the minutes a battery buffered while offline and file them by hour.

After any outage (Wi-Fi, router, Home Assistant restart) the battery still holds its
one-minute records. When it comes back more than two minutes after the newest record we
stored, we ask for them with ``Resume`` and import them into the long-term statistics
of our own energy sensors, so the Energy dashboard's hourly bars show the battery's
figures for the hours we missed.

Why the sensors' own statistics, and why it cannot double count (docs/backfill.md):
the recorder keeps an hourly ``sum`` per sensor, carried forward from its five-minute
statistics. We anchor every imported hour on the last hourly row *before* the gap, so
``sum = base_sum + (battery_total_at_hour_end - base_state)``. That is the same chain the
recorder itself continues from its last five-minute row when the sensor comes back, so
the hour of the reconnection only gets its own energy, never the outage's again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
from typing import TYPE_CHECKING, Final

from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import UnitOfEnergy
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util

from .battery import ENERGY_TOTALS, BatteryState
from .const import DOMAIN, LOGGER
from .protocol import DetailedRecord
from .protocol.events import ServerError
from .protocol.redact import mask_serial

if TYPE_CHECKING:
    from .protocol.server import AlphaServer

GAP: Final = timedelta(minutes=2)
MAX_RESUME_MINUTES: Final = 7 * 24 * 60
RESUME_TIMEOUT: Final = 30.0
# Import once the upload reaches the end we asked for, or after this much silence.
UPLOAD_QUIET: Final = 15.0
HOUR: Final = timedelta(hours=1)
ROW_SPACING: Final = timedelta(minutes=1)
BASE_LOOKBACK: Final = timedelta(days=30)


@dataclass
class _Pending:
    """One battery's Resume: what we asked for and what has arrived."""

    end: datetime | None  # None: an upload we did not ask for
    rows: dict[datetime, DetailedRecord] = field(default_factory=dict)
    quiet_timer: CALLBACK_TYPE | None = None


class HistoryBackfill:
    """Decides when to ask for history and files what comes back."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        server: AlphaServer,
        on_imported: Callable[[BatteryState], None],
    ) -> None:
        """Work for one config entry's server; tasks end with the entry."""
        self._hass = hass
        self._entry = entry
        self._server = server
        self._on_imported = on_imported
        self._pending: dict[str, _Pending] = {}
        self._left_alone: set[str] = set()
        self._filing = 0
        self.resumes_sent = 0
        self.rows_filed = 0

    @property
    def busy(self) -> bool:
        """A Resume is awaited, an upload is arriving, or rows are being filed."""
        return bool(self._pending) or self._filing > 0

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
        if (
            previous is None
            or start is None
            or battery_time - previous <= GAP
            or state.serial in self._pending
            or state.serial in self._left_alone
        ):
            return
        minutes = min(
            math.ceil((battery_time - start).total_seconds() / 60) + 1,
            MAX_RESUME_MINUTES,
        )
        start = max(start, battery_time - timedelta(minutes=minutes))
        self._pending[state.serial] = _Pending(end=start + timedelta(minutes=minutes))
        self._entry.async_create_background_task(
            self._hass,
            self._resume(state, start, minutes),
            f"{DOMAIN} resume {mask_serial(state.serial)}",
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
            self._pending.pop(serial, None)
            self._left_alone.add(serial)
            LOGGER.warning(
                "Battery %s did not accept the history request (%s); not asking again "
                "until it reconnects",
                mask_serial(serial),
                err,
            )

    @callback
    def disconnected(self, serial: str) -> None:
        """A new connection may be asked again; rows already here are still filed."""
        self._left_alone.discard(serial)

    # --- what comes back ------------------------------------------------------------

    @callback
    def rows_received(
        self, state: BatteryState, rows: tuple[DetailedRecord, ...]
    ) -> None:
        """Collect uploaded rows; file them once the upload is complete or goes quiet."""
        pending = self._pending.get(state.serial)
        if pending is None:
            # Unrequested history (or after a timeout): still worth filing.
            pending = self._pending[state.serial] = _Pending(end=None)
        for row in rows:
            if row.time is not None:
                pending.rows[row.time] = row  # a row sent twice counts once
        if pending.quiet_timer:
            pending.quiet_timer()
        newest = max(pending.rows, default=None)
        # Rows are a minute apart: the one in the last requested minute ends the upload.
        if newest is not None and pending.end and newest >= pending.end - ROW_SPACING:
            self._start_filing(state)
            return

        @callback
        def _quiet(_now: datetime) -> None:
            pending.quiet_timer = None
            self._start_filing(state)

        pending.quiet_timer = async_call_later(self._hass, UPLOAD_QUIET, _quiet)

    def _start_filing(self, state: BatteryState) -> None:
        self._filing += 1
        self._entry.async_create_background_task(
            self._hass,
            self._file(state),
            f"{DOMAIN} import {mask_serial(state.serial)}",
        )

    async def _file(self, state: BatteryState) -> None:
        try:
            await self._file_pending(state)
        finally:
            self._filing -= 1

    async def _file_pending(self, state: BatteryState) -> None:
        pending = self._pending.pop(state.serial, None)
        if pending is None or not pending.rows:
            return
        if pending.quiet_timer:
            pending.quiet_timer()
        # Only credible rows reach the statistics (docs/backfill.md).
        rows = [
            row
            for row in (pending.rows[t] for t in sorted(pending.rows))
            if state.apply_history_row(row)
        ]
        if not rows:
            return
        self.rows_filed += len(rows)
        imported = await self._import(state, rows)
        LOGGER.info(
            "Battery %s: recovered %d buffered minutes (%s to %s), %d hourly statistics",
            mask_serial(state.serial),
            len(rows),
            rows[0].time,
            rows[-1].time,
            imported,
        )
        self._on_imported(state)

    async def _import(self, state: BatteryState, rows: list[DetailedRecord]) -> int:
        """Write hourly rows for every complete hour the history covers."""
        ends = hour_end_totals(rows, state.utc_offset, dt_util.utcnow())
        if not ends:
            return 0
        if "recorder" not in self._hass.config.components:
            LOGGER.info("The recorder is not running; history kept, not imported")
            return 0
        registry = er.async_get(self._hass)
        imported = 0
        for key, _attribute in ENERGY_TOTALS:
            entity_id = registry.async_get_entity_id(
                "sensor", DOMAIN, f"{state.serial}_{key}_energy"
            )
            if entity_id is not None:
                imported += await self._import_sensor(entity_id, ends.get(key, []))
        return imported

    async def _import_sensor(
        self, entity_id: str, ends: list[tuple[datetime, float]]
    ) -> int:
        if not ends:
            return 0
        first = ends[0][0]
        found = await get_instance(self._hass).async_add_executor_job(
            statistics_during_period,
            self._hass,
            first - BASE_LOOKBACK,
            first,
            {entity_id},
            "hour",
            None,
            {"state", "sum"},
        )
        before = found.get(entity_id)
        if not before:
            # No chain to extend yet (first hours of a new sensor): importing would
            # start a second chain that the recorder's own would contradict.
            LOGGER.debug(
                "No statistics before %s for %s; nothing imported", first, entity_id
            )
            return 0
        base_state = before[-1].get("state") or 0.0
        base_sum = before[-1].get("sum") or 0.0
        statistics = [
            StatisticData(start=start, state=total, sum=base_sum + (total - base_state))
            for start, total in ends
        ]
        metadata = StatisticMetaData(
            mean_type=StatisticMeanType.NONE,
            has_sum=True,
            name=None,
            source="recorder",
            statistic_id=entity_id,
            unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        )
        async_import_statistics(self._hass, metadata, statistics)
        return len(statistics)

    @callback
    def shutdown(self) -> None:
        """Cancel quiet timers; unfinished uploads are asked for again next time."""
        for pending in self._pending.values():
            if pending.quiet_timer:
                pending.quiet_timer()
        self._pending.clear()


def real_time(battery_time: datetime, offset: timedelta) -> datetime:
    """Battery clock (naive, drifting, no DST) to UTC, with its offset from UTC.

    The offset is measured against UTC, not local time: the battery ignores daylight
    saving, so its offset from UTC stays put when the host's local time jumps.
    """
    return (battery_time - offset).replace(tzinfo=dt_util.UTC)


def hour_end_totals(
    rows: list[DetailedRecord], offset: timedelta, now: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Lifetime totals at the end of each complete hour the rows cover, per key.

    ``rows`` are sorted by battery time. An hour counts when it has ended (before the
    current hour, which the recorder is still compiling) and the rows reach to within
    two minutes of its end, so its end total is known. One pass over the rows.
    """
    timed = [(real_time(row.time, offset), row) for row in rows if row.time is not None]
    if not timed:
        return {}
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    last = timed[-1][0]
    ends: dict[str, list[tuple[datetime, float]]] = {
        key: [] for key, _ in ENERGY_TOTALS
    }
    latest: dict[str, float] = {}
    hour = timed[0][0].replace(minute=0, second=0, microsecond=0)

    def close_hour(hour_start: datetime) -> None:
        for key, total in latest.items():
            ends[key].append((hour_start, total))

    for when, row in timed:
        while when >= hour + HOUR:
            if hour + HOUR <= current_hour and last >= hour + HOUR - GAP:
                close_hour(hour)
            hour += HOUR
        for key, attribute in ENERGY_TOTALS:
            value = getattr(row, attribute)
            if value is not None:
                latest[key] = value
    if hour + HOUR <= current_hour and last >= hour + HOUR - GAP:
        close_hour(hour)
    return {key: values for key, values in ends.items() if values}
