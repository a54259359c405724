"""Opt-in local control: change a battery's settings the way the cloud did.

``SetConfig`` makes the battery ask for its configuration and apply the answer, then
report what it runs with. The answer is the battery's own latest report with only the
user's changes in it (``protocol/codec/settings.py``); a change counts only when the next
report shows it. One change per battery at a time; the next one waits its turn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from . import const
from .const import DOMAIN, LOGGER
from .protocol import (
    SETTINGS,
    Requested,
    ServerError,
    SettingError,
    SystemReport,
    build_answer,
    mask_serial,
    normalize,
    setting_label,
    shows,
    spoken,
    validate,
)
from .source import SettingsChannel


@contextmanager
def _refusal() -> Iterator[None]:
    """A rule of the library broken: the user's input, named in their language."""
    try:
        yield
    except SettingError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key=err.key,
            translation_placeholders={"detail": str(err)},
        ) from err


class BatteryControl:
    """Applies settings changes for the batteries of one config entry."""

    def __init__(
        self,
        channel: SettingsChannel | None,
        report_for: Callable[[str], SystemReport | None],
        *,
        allowed: bool,
        hass: HomeAssistant | None = None,
    ) -> None:
        """Control is off unless the user allowed it and the source can change settings."""
        self._hass = hass
        self._channel = channel
        self._report_for = report_for
        self.allowed = allowed and channel is not None
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiters: dict[str, asyncio.Queue[SystemReport]] = {}
        # Per battery, its report from before the cloud sent it settings.
        self._cloud_before: dict[str, SystemReport] = {}

    @callback
    def report_received(self, serial: str, report: SystemReport) -> None:
        """A system report arrived: it may be the one confirming a change."""
        if (waiter := self._waiters.get(serial)) is not None:
            waiter.put_nowait(report)
        if (before := self._cloud_before.pop(serial, None)) is not None:
            self._log_cloud_changes(serial, before, report)

    def cloud_settings(self, serial: str) -> None:
        """The vendor cloud sent the battery settings (a SetConfig the owner passed).

        The battery's next report shows what it applied; those changes are logged as
        the cloud's, as ours are logged with the person who made them.
        """
        report = self._report_for(serial)
        if report is not None:
            self._cloud_before[serial] = report

    def _log_cloud_changes(
        self, serial: str, before: SystemReport, after: SystemReport
    ) -> None:
        for setting in SETTINGS:
            key = setting.wire_key
            old, new = before.raw.get(key), after.raw.get(key)
            if new is not None and spoken(key, old) != spoken(key, new):
                LOGGER.info(
                    "Battery %s: %s: %s → %s by the AlphaESS cloud",
                    mask_serial(serial),
                    setting_label(key),
                    spoken(key, old),
                    spoken(key, new),
                )

    def check(
        self, changes: Mapping[str, Requested], serial: str | None = None
    ) -> SettingsChannel:
        """Refuse what cannot be sent, before any wait; the channel otherwise.

        With ``serial``, also the rules between settings against its latest report
        (a change that settles first is refused while the owner is still there).
        """
        if not self.allowed or (channel := self._channel) is None:
            # A source that cannot change settings (Modbus, for now): no option helps.
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="control_disabled"
                if self._channel is not None
                else "control_unavailable",
            )
        with _refusal():
            normalize(changes)  # what the battery cannot hold fails before any wait
            report = self._report_for(serial) if serial is not None else None
            if report is not None and report.raw:
                validate(changes, report.raw)
        return channel

    async def async_apply(
        self,
        serial: str,
        changes: Mapping[str, Requested],
        user_id: str | None,
    ) -> None:
        """Send ``changes`` and wait until the battery reports them applied."""
        channel = self.check(changes)
        lock = self._locks.setdefault(serial, asyncio.Lock())
        async with lock:
            try:
                await self._apply_locked(channel, serial, changes, user_id)
            finally:
                self._waiters.pop(serial, None)

    async def _apply_locked(
        self,
        channel: SettingsChannel,
        serial: str,
        requested: Mapping[str, Requested],
        user_id: str | None,
    ) -> None:
        # Read inside the lock: a change queued behind another builds on its result.
        report = self._report_for(serial)
        if report is None or not report.raw:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="no_report"
            )
        with _refusal():
            changes = validate(requested, report.raw)
        if shows(report.raw, changes):
            return
        answer, applied = build_answer(report.raw, changes)
        names = ", ".join(change.key for change in applied)
        reports: asyncio.Queue[SystemReport] = asyncio.Queue()
        self._waiters[serial] = reports
        channel.hand_config(serial, answer)
        try:
            async with asyncio.timeout(const.CONTROL_TIMEOUT):
                await channel.set_config(serial, timeout=const.CONTROL_TIMEOUT)
                # A periodic report may come before the confirming one: keep waiting.
                while not shows((await reports.get()).raw, changes):
                    pass
        except (ServerError, TimeoutError) as err:
            channel.withdraw_config(serial)
            LOGGER.warning(
                "Battery %s did not apply %s (%s); showing what it reports instead",
                mask_serial(serial),
                names,
                err or "no confirming report in time",
            )
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="not_applied",
                translation_placeholders={"settings": names},
            ) from err
        who = await self._who(user_id)
        for change in applied:
            LOGGER.info(
                "Battery %s: %s: %s → %s by %s",
                mask_serial(serial),
                setting_label(change.key),
                spoken(change.key, change.old),
                spoken(change.key, change.new),
                who,
            )

    async def _who(self, user_id: str | None) -> str:
        """The person behind a change, by name (an id means nothing in a log)."""
        if user_id is not None and self._hass is not None:
            user = await self._hass.auth.async_get_user(user_id)
            if user is not None and user.name:
                return user.name
        return "an automation" if user_id is None else "a user"
