"""Hourly statistics rows written behind the recorder, never racing it.

The recorder compiles each five-minute period at ``:00:10``, ``:05:10``, … (UTC) and,
when a period closes an hour, that hour's rows for every sensor, with a plain insert in
one transaction. An hourly row we import for an hour it has not compiled yet makes that
insert hit the unique index, and the recorder rolls back the whole compile: the hour
and its last five minutes are lost for *every* sensor in Home Assistant.

So we only write an hour the recorder has compiled: its ``statistics_runs`` table says
which periods are done. Our import is queued on the recorder's own queue after that
check, behind any compile already queued, and it updates the recorder's row for the
hour rather than inserting beside it (docs/backfill.md, "The recorder's schedule").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, cast

from homeassistant.components.recorder.core import Recorder
from homeassistant.components.recorder.db_schema import StatisticsRuns
from homeassistant.components.recorder.models import (
    StatisticData,
    StatisticMeanType,
    StatisticMetaData,
    process_timestamp,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    statistics_during_period,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from sqlalchemy import func

from .const import LOGGER

COMPILE_PERIOD: Final = timedelta(minutes=5)
# The recorder compiles a period at 10 s past its end; we look again a little later,
# and every few seconds while it is late.
COMPILE_DELAY: Final = timedelta(seconds=20)
RETRY_INTERVAL: Final = timedelta(seconds=10)
# How far back the row that anchors an imported hour's sum may lie.
BASE_LOOKBACK: Final = timedelta(days=30)
# Home Assistant 2026.x wants the unit class in imported metadata (2025.4 has no key).
_UNIT_CLASS: Final = (
    {"unit_class": "energy"}
    if "unit_class" in StatisticMetaData.__annotations__
    else {}
)


async def async_compiled_until(hass: HomeAssistant) -> datetime | None:
    """End of the newest period the recorder has compiled statistics for (UTC).

    Waits for the recorder's queue first, so a compile queued before this call (at
    ``:05:10``, say) is done before its run is looked up.
    """
    instance = get_instance(hass)
    await instance.async_block_till_done()
    return await instance.async_add_executor_job(_compiled_until, instance)


def _compiled_until(instance: Recorder) -> datetime | None:
    session = instance.get_session()
    try:
        last = session.query(func.max(StatisticsRuns.start)).scalar()
    finally:
        session.close()
    return None if last is None else process_timestamp(last) + COMPILE_PERIOD


def retry_at(now: datetime, hour_end: datetime) -> datetime:
    """When to look again for the compile of the hour ending at ``hour_end``.

    Not before the recorder can have compiled it; if that is past (a busy recorder,
    or one still compiling what it missed during a restart), again shortly.
    """
    return max(hour_end + COMPILE_DELAY, now + RETRY_INTERVAL)


async def async_import_hours(
    hass: HomeAssistant, entity_id: str, ends: list[tuple[datetime, float]]
) -> bool:
    """Write hourly ``state``/``sum`` rows continuing the sensor's own chain.

    ``ends`` are (hour start, lifetime total at the hour's end). The sum is anchored on
    the sensor's last hourly row before the first hour, ``sum = state + C`` with that
    row's ``C``: the chain the recorder continues when the sensor comes back, so the
    reconnection hour cannot count the outage a second time. Returns False when the
    sensor has no row to anchor on yet (a second chain would contradict the recorder's).
    """
    first = ends[0][0]
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        first - BASE_LOOKBACK,
        first,
        {entity_id},
        "hour",
        None,
        {"state", "sum"},
    )
    before = found.get(entity_id)
    if not before:
        LOGGER.debug(
            "No statistics before %s for %s; nothing imported", first, entity_id
        )
        return False
    base_state = before[-1].get("state") or 0.0
    base_sum = before[-1].get("sum") or 0.0
    statistics = [
        StatisticData(start=start, state=total, sum=base_sum + (total - base_state))
        for start, total in ends
    ]
    metadata = cast(
        StatisticMetaData,
        {
            "mean_type": StatisticMeanType.NONE,
            "has_sum": True,
            "name": None,
            "source": "recorder",
            "statistic_id": entity_id,
            "unit_of_measurement": UnitOfEnergy.KILO_WATT_HOUR,
            **_UNIT_CLASS,
        },
    )
    async_import_statistics(hass, metadata, statistics)
    return True
