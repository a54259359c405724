"""The repair that tells the owner their battery's clock is off, with a true figure.

The battery has no NTP and ignores daylight saving; its statistics are corrected for
the offset anyway, but the owner should know and may set the clock. The issue states
the offset in minutes, so it is re-created whenever that figure moves by a minute
(daylight saving, a clock set on the battery) and never shows a stale one.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .battery import CLOCK_ISSUE_REFRESH, BatteryState
from .const import CLOCK_ISSUE_THRESHOLD, DOMAIN
from .protocol import mask_serial


def keep_clock_issue(hass: HomeAssistant, state: BatteryState) -> None:
    """Raise, refresh or clear the battery's clock issue after a timed record."""
    offset = state.clock_offset
    if offset is None:
        return
    issue_id = f"clock_offset_{state.serial}"
    if abs(offset) <= CLOCK_ISSUE_THRESHOLD:
        if state.clock_issue is not None:
            state.clock_issue = None
            ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    shown = state.clock_issue
    if shown is not None and abs(offset - shown) < CLOCK_ISSUE_REFRESH:
        return
    state.clock_issue = offset
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="clock_offset",
        translation_placeholders={
            "minutes": f"{offset.total_seconds() / 60:+.0f}",
            "serial": mask_serial(state.serial),
        },
    )
