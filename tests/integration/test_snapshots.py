"""What each platform creates from the recorded session, pinned by syrupy snapshots.

Per platform: every entity's registry entry (entity id, unique id, name, translation
key, device and state classes, unit, category, enabled or disabled by default) and its
state after the replay; plus the battery's device registry entry. Regenerate after an
intended change with ``pytest tests/integration/test_snapshots.py --snapshot-update``
and review the diff of ``snapshots/test_snapshots.ambr``.

Only values that depend on when the test runs, or how fast, are replaced, each after
it has been checked: the time at which Home Assistant saw something
(``connected_since``, an event entity's last firing) becomes ``<timestamp>``, and the
battery clock's offset, measured against a frozen clock that still ticks while the
session is replayed, becomes ``<clock offset>``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local.const import DOMAIN
from custom_components.alphaess_local.coordinator import battery_device

from .conftest import SERIAL, RecordedBattery
from .test_control import allow_control

# Ticking, so real I/O still works; each test moves it to REPLAYED_AT first.
pytestmark = pytest.mark.freeze_time(tick=True)
# The session's newest record is stamped 10:02:40 by the battery; the test time zone
# is US/Pacific (UTC-7 that day). The clock offset shown is then 35.5 s minus the time
# the replay took to reach that record (35 unless the machine stalls).
REPLAYED_AT = datetime(2021, 3, 24, 17, 2, 4, 500_000, tzinfo=UTC)

TIMESTAMP = "<timestamp>"
CLOCK_OFFSET = "<clock offset>"
MONITORING = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]
CONTROL = [Platform.NUMBER, Platform.SWITCH, Platform.TIME]


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's serializer: registry ids and creation times left out."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


# What a user sees of an entity and a device; the registries' other fields (and
# their number) change from one Home Assistant release to the next.
ENTITY_FIELDS = (
    "entity_id",
    "unique_id",
    "original_name",
    "translation_key",
    "original_device_class",
    "unit_of_measurement",
    "entity_category",
    "disabled_by",
    "capabilities",
)
DEVICE_FIELDS = (
    "name",
    "manufacturer",
    "model",
    "serial_number",
    "sw_version",
    "hw_version",
    "identifiers",
    "entry_type",
)


def plain(data: dict[Any, Any]) -> dict[str, Any]:
    """Keys and enum values as plain strings: releases differ in which are enums."""
    return {str(key): _plain_value(value) for key, value in data.items()}


def _plain_value(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return plain(value)
    if isinstance(value, list | tuple):
        return [_plain_value(v) for v in value]
    return value


def stable_state(entry: er.RegistryEntry, state: State | None) -> dict[str, Any] | None:
    """A state as plain data, with values that depend on the run checked, replaced."""
    if state is None:  # disabled by default: never written
        assert entry.disabled_by is not None, entry.entity_id
        return None
    value = state.state
    timestamped = state.domain == Platform.EVENT or (
        state.attributes.get(ATTR_DEVICE_CLASS) == SensorDeviceClass.TIMESTAMP
    )
    if timestamped:
        assert dt_util.parse_datetime(value) is not None, (state.entity_id, value)
        value = TIMESTAMP
    elif entry.unique_id == f"{SERIAL}_clock_offset":
        assert 25 <= float(value) <= 36, value  # only a hang of seconds moves it
        value = CLOCK_OFFSET
    return {"state": value, "attributes": plain(dict(state.attributes))}


def platform_snapshot(
    hass: HomeAssistant, entry: MockConfigEntry, platform: Platform
) -> dict[str, Any]:
    """Registry entry and state of each of the entry's entities on ``platform``."""
    registry = er.async_get(hass)
    entities = sorted(
        (
            e
            for e in er.async_entries_for_config_entry(registry, entry.entry_id)
            if e.domain == platform
        ),
        key=lambda e: e.entity_id,
    )
    assert entities, platform
    return {
        e.entity_id: {
            "entry": plain({field: getattr(e, field) for field in ENTITY_FIELDS}),
            "state": stable_state(e, hass.states.get(e.entity_id)),
        }
        for e in entities
    }


async def replay(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
    *,
    control: bool,
) -> None:
    if control:
        await allow_control(hass, entry, True)
    client: RecordedBattery = await battery()
    freezer.move_to(REPLAYED_AT)
    await client.replay()
    await hass.async_block_till_done()


@pytest.mark.parametrize("platform", MONITORING)
async def test_monitoring_platform(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    await replay(hass, loaded_entry, battery, freezer, control=False)
    assert platform_snapshot(hass, loaded_entry, platform) == snapshot


@pytest.mark.parametrize("platform", CONTROL)
async def test_control_platform(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
    platform: Platform,
) -> None:
    await replay(hass, loaded_entry, battery, freezer, control=True)
    assert platform_snapshot(hass, loaded_entry, platform) == snapshot


async def test_control_off_creates_no_setting_entities(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    await replay(hass, loaded_entry, battery, freezer, control=False)
    domains = {
        e.domain
        for e in er.async_entries_for_config_entry(
            er.async_get(hass), loaded_entry.entry_id
        )
    }
    assert domains == set(MONITORING)


async def test_device(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
) -> None:
    await replay(hass, loaded_entry, battery, freezer, control=False)
    devices = dr.async_entries_for_config_entry(
        dr.async_get(hass), loaded_entry.entry_id
    )
    assert devices == [
        battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    ]
    assert devices[0].identifiers == {(DOMAIN, SERIAL)}
    assert plain({f: getattr(devices[0], f) for f in DEVICE_FIELDS}) == snapshot
