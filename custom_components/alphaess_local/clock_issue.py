"""The repair that tells the owner their battery's clock is off, with a true figure.

The battery has no NTP and ignores daylight saving; its statistics are corrected for
the offset anyway, but the owner should know and may set the clock. The issue states
the offset in minutes, so it is re-created whenever that figure moves by a minute
(daylight saving, a clock set on the battery) and never shows a stale one.

A whole number of hours off is not drift: the battery's clock is set to another time
zone, or has not followed a daylight-saving change, and the remedy differs (set the
zone, not the minutes), so that case has its own text. When the case changes the
issue is deleted and raised anew, so an owner who ignored one sees the other.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .battery import CLOCK_ISSUE_REFRESH, BatteryState
from .const import CLOCK_ISSUE_THRESHOLD, DOMAIN
from .protocol import mask_serial

CLOCK_DRIFT: Final = "clock_offset"
CLOCK_ZONE: Final = "clock_offset_zone"
# Local times differ from UTC by at most 14 hours: a clock further off has the wrong
# date, not the wrong zone.
_MAX_ZONE_HOURS: Final = 14


def clock_issue_id(serial: str) -> str:
    """The clock repair's issue for battery ``serial`` (one, whatever its kind)."""
    return f"clock_offset_{serial}"


def whole_hours(offset: timedelta) -> int | None:
    """The hours ``offset`` is, if it is within a few minutes of a non-zero whole hour.

    That is a time zone or a missed daylight-saving change; anything else is drift.
    """
    hours = round(offset / timedelta(hours=1))
    if hours == 0 or abs(hours) > _MAX_ZONE_HOURS:
        return None
    if abs(offset - timedelta(hours=hours)) > CLOCK_ISSUE_THRESHOLD:
        return None
    return hours


def keep_clock_issue(hass: HomeAssistant, state: BatteryState) -> None:
    """Raise, refresh or clear the battery's clock issue after a timed record."""
    offset = state.clock_offset
    if offset is None:
        return
    issue_id = clock_issue_id(state.serial)
    if abs(offset) <= CLOCK_ISSUE_THRESHOLD:
        if state.clock_issue is not None:
            state.clock_issue = None
            ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    hours = whole_hours(offset)
    shown = state.clock_issue
    if shown is not None:
        same_kind = (whole_hours(shown) is None) == (hours is None)
        if same_kind and abs(offset - shown) < CLOCK_ISSUE_REFRESH:
            return
        if not same_kind:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
    state.clock_issue = offset
    placeholders = {
        "minutes": f"{offset.total_seconds() / 60:+.0f}",
        "serial": mask_serial(state.serial),
    }
    if hours is not None:
        placeholders["hours"] = f"{hours:+d}"
        placeholders["time_zone"] = hass.config.time_zone
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=CLOCK_DRIFT if hours is None else CLOCK_ZONE,
        translation_placeholders=placeholders,
    )
