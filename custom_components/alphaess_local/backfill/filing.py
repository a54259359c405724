"""Filing an upload into the hourly statistics, once the recorder has compiled them.

Home Assistant's recorder compiles each hour's statistics a few minutes after the hour
ends; an hour imported before that would be overwritten by the compile. So each
complete hour is filed only once compiled, the rest is retried after the recorder's
next compile, and the debt is settled only by what was filed: a cut upload moves it
to the oldest unfiled minute, never past it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..battery.totals import ENERGY_TOTALS, energy_key
from ..const import DOMAIN, LOGGER, unique_id
from ..hourly_statistics import async_compiled_until, retry_at
from ..protocol import mask_serial
from .hours import HOUR
from .upload import Upload

if TYPE_CHECKING:
    from ..battery import BatteryState

type ImportHours = Callable[
    [HomeAssistant, str, list[tuple[datetime, float]]], Awaitable[bool]
]


class HourFiler:
    """Files uploads for one config entry; retries hours the recorder has not compiled.

    ``on_changed`` persists a battery's state, ``ask_again(serial)`` lets the backfill
    ask a battery again, ``uploading(serial)`` says whether an upload is arriving.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        import_hours: ImportHours,
        on_changed: Callable[[BatteryState], None],
        ask_again: Callable[[str], None],
        uploading: Callable[[str], bool],
    ) -> None:
        """File for ``entry``, writing statistics with ``import_hours``."""
        self._hass = hass
        self._entry = entry
        self._import_hours = import_hours
        self._on_changed = on_changed
        self._ask_again = ask_again
        self._uploading = uploading
        self._filing: dict[str, Upload] = {}
        self._retry: dict[str, CALLBACK_TYPE] = {}

    @property
    def busy(self) -> bool:
        """Rows are being filed."""
        return bool(self._filing)

    def filing(self, serial: str) -> bool:
        """Whether ``serial``'s rows are being filed now."""
        return serial in self._filing

    def start(self, state: BatteryState, upload: Upload) -> None:
        """File ``upload`` in the background."""
        self._filing[state.serial] = upload
        self._entry.async_create_background_task(
            self._hass,
            self._file(state, upload),
            f"{DOMAIN} import {mask_serial(state.serial)}",
        )

    async def _file(self, state: BatteryState, upload: Upload) -> None:
        try:
            await self._file_upload(state, upload)
        finally:
            if self._filing.get(state.serial) is upload:
                del self._filing[state.serial]

    async def _file_upload(self, state: BatteryState, upload: Upload) -> None:
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
            if await self._import_hours(self._hass, entity_id, ready):
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

    def _settle(self, state: BatteryState, upload: Upload) -> None:
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
                self._ask_again(state.serial)
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
        self, state: BatteryState, upload: Upload, hour_end: datetime
    ) -> None:
        serial = state.serial
        if cancel := self._retry.pop(serial, None):
            cancel()

        @callback
        def _again(_now: datetime) -> None:
            self._retry.pop(serial, None)
            if serial in self._filing or self._uploading(serial):
                return
            self.start(state, upload)

        self._retry[serial] = async_track_point_in_utc_time(
            self._hass, _again, retry_at(dt_util.utcnow(), hour_end)
        )

    @callback
    def shutdown(self) -> None:
        """Cancel retries; what is not filed is still owed and asked for next time."""
        for cancel in self._retry.values():
            cancel()
        self._retry.clear()
