"""One base for the battery's settings, whatever platform shows them.

A setting is read from the battery's latest system report and changed through
SetConfig, and exists only while the user allows control, whether Home Assistant
shows it as a switch, a number or a time. Keeping that here, and deriving each
entity's key and name from the settings table, lets a new setting be one row in
``protocol/codec/settings.py`` and leaves a platform file only what its platform does
differently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from homeassistant.const import EntityCategory
from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_call_later

from . import const
from .battery import BatteryState, Part, PartValue, from_record
from .const import DOMAIN
from .coordinator import AlphaEssCoordinator
from .entity import (
    AlphaEssEntity,
    AlphaEssEntityDescription,
    async_add_battery_entities,
    control_enabled,
)
from .protocol import (
    SETTINGS,
    Requested,
    Setting,
    SettingKind,
    SettingValue,
    SystemReport,
)
from .runtime_data import AlphaEssConfigEntry


@dataclass(frozen=True, kw_only=True)
class AlphaEssSettingEntityDescription[V](AlphaEssEntityDescription):
    """What every setting entity needs besides its platform's own fields.

    ``value_fn`` reads the setting from the battery's latest report, as the
    platform's type (on/off, a number, a time): that is where platforms differ.
    """

    setting: Setting
    value_fn: Callable[[BatteryState], V | None]

    @property
    def shown_by(self) -> None:
        """None: availability also hangs on the report, so every report asks."""
        return None


class SettingFields[V](TypedDict):
    """The description fields the settings table decides, for ``**`` in a call."""

    key: str
    translation_key: str
    translation_placeholders: dict[str, str] | None
    setting: Setting
    value_fn: PartValue[V | None]


def settings_of(kind: SettingKind) -> tuple[Setting, ...]:
    """The settings one platform shows, in the table's order."""
    return tuple(setting for setting in SETTINGS if setting.kind is kind)


def from_setting[V](
    setting: Setting, convert: Callable[[SettingValue], V]
) -> SettingFields[V]:
    """Key, translation, placeholders and value of the entity for ``setting``.

    The entity key is the setting's stable key; the ends of the numbered windows
    share one translation ("Charge {window} start") with the number as a
    placeholder. The value is the setting in the latest report, ``convert``-ed to
    the platform's type (``True``, ``80.0``, ``02:00``).
    """

    def reported(report: SystemReport) -> V | None:
        value = setting.read(report.raw)
        return None if value is None else convert(value)

    value_fn = from_record(Part.REPORT, reported)
    if setting.window is None:
        return SettingFields(
            key=setting.key,
            translation_key=setting.key,
            translation_placeholders=None,
            setting=setting,
            value_fn=value_fn,
        )
    return SettingFields(
        key=setting.key,
        translation_key=setting.key.replace(f"_{setting.window}_", "_"),
        translation_placeholders={"window": str(setting.window)},
        setting=setting,
        value_fn=value_fn,
    )


class AlphaEssSettingEntity[V](AlphaEssEntity):
    """A battery setting: shows the latest report, changes go through SetConfig.

    What it shows is only ever what the battery reported, never what was sent: a
    change the battery did not take must not look as if it had.
    """

    _attr_entity_category = EntityCategory.CONFIG
    entity_description: AlphaEssSettingEntityDescription[V]

    @property
    def available(self) -> bool:
        """Only with a system report to build a change on."""
        return super().available and self.battery.report is not None

    @property
    def reported(self) -> V | None:
        """The setting in the battery's latest report, as the platform shows it."""
        return self.entity_description.value_fn(self.battery)

    # The change waiting for the owner to be done, and its timer.
    _pending: tuple[dict[str, Requested], str | None] | None = None
    _pending_timer: CALLBACK_TYPE | None = None
    # Typed values settle; a switch's flip is whole as it comes.
    _settles = True

    async def _async_change(self, value: Requested) -> None:
        """Set this entity's setting once the owner is done; the last value wins.

        Home Assistant's time field sends the hour edit on its own: sent at once, an
        hour the owner never chose reached the battery. So a typed change is checked
        now (a refusal reaches the owner, and drops the change before it) and sent
        once no newer one came for :data:`~.const.SETTING_SETTLE` on Home Assistant's
        clock. The call returns before that: entity calls are serialised
        (``PARALLEL_UPDATES``), so a call waiting out the settle would hold back the
        edit that replaces it. A change the battery does not confirm is logged, and
        the state shows what the battery reports.
        """
        user_id = self._context.user_id if self._context else None
        changes: dict[str, Requested] = {
            self.entity_description.setting.wire_key: value
        }
        self._drop_pending()
        self.coordinator.control.check(changes, self.serial)  # refused: none sent
        if not self._settles:
            await self._apply(changes, user_id)
            return
        self._pending = (changes, user_id)
        self._pending_timer = async_call_later(
            self.hass, const.SETTING_SETTLE, self._settled
        )

    async def _apply(self, changes: dict[str, Requested], user_id: str | None) -> None:
        try:
            await self.coordinator.control.async_apply(self.serial, changes, user_id)
        finally:
            self.async_write_ha_state()

    @callback
    def _settled(self, _now: datetime) -> None:
        """No newer change came: send the last one, in the entry's background."""
        self._pending_timer = None
        if self._pending is None:
            return
        changes, user_id = self._pending
        self._pending = None
        self.coordinator.config_entry.async_create_background_task(
            self.hass,
            self._apply_settled(changes, user_id),
            f"{DOMAIN} settled change of {self.entity_id}",
        )

    async def _apply_settled(
        self, changes: dict[str, Requested], user_id: str | None
    ) -> None:
        # Nobody awaits this call: a refusal by the battery is already logged.
        with contextlib.suppress(HomeAssistantError):
            await self._apply(changes, user_id)

    def _drop_pending(self) -> None:
        if self._pending_timer is not None:
            self._pending_timer()
            self._pending_timer = None
        self._pending = None

    async def async_will_remove_from_hass(self) -> None:
        """A change still settling goes with the entity (control off, reload)."""
        self._drop_pending()
        await super().async_will_remove_from_hass()


def async_add_setting_entities[D: AlphaEssSettingEntityDescription[Any]](
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Sequence[D],
    factory: Callable[[AlphaEssCoordinator, str, D], AlphaEssEntity],
) -> None:
    """Add one platform's settings for every battery, if the user allows control."""
    if control_enabled(entry):
        async_add_battery_entities(entry, async_add_entities, descriptions, factory)
