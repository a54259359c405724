"""Every entity's unique id, pinned by a syrupy snapshot: none may change silently.

Entity ids, customisations and long-term statistics hang on the unique id, so a key
renamed in a description table (or built differently) must show up as a diff of
``snapshots/test_unique_ids.ambr``, never slip through. The recorded session of
``test_snapshots.py`` creates only the entities its battery has data for; this walks
every description, three-phase and multi-module ones included.
"""

from __future__ import annotations

import pytest
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local import (
    binary_sensor,
    event,
    number,
    sensor,
    switch,
    time,
)
from custom_components.alphaess_local.battery import ENERGY_TOTALS, energy_key
from custom_components.alphaess_local.const import unique_id
from custom_components.alphaess_local.entity import AlphaEssEntityDescription

from .conftest import SERIAL

TABLES: dict[str, tuple[AlphaEssEntityDescription, ...]] = {
    "binary_sensor": binary_sensor.BINARY_SENSORS,
    "event": (event.EVENT_LOG,),
    "number": number.NUMBERS,
    "sensor": sensor.SENSORS,
    "switch": switch.SWITCHES,
    "time": time.TIMES,
}


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Stored beside ``test_snapshots.ambr``, in Home Assistant's format."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


def test_unique_ids(snapshot: SnapshotAssertion) -> None:
    """Per platform, in table order, the unique id of each entity of battery SERIAL."""
    ids = {
        platform: [unique_id(SERIAL, d.key) for d in descriptions]
        for platform, descriptions in TABLES.items()
    }
    assert ids == snapshot
    # The registry keys an entity by platform and unique id (a sensor may mirror
    # a number's setting under the same key).
    for platform, unique_ids in ids.items():
        assert len(unique_ids) == len(set(unique_ids)), platform


def test_energy_sensors_are_where_the_backfill_looks() -> None:
    """The backfill finds each lifetime total's sensor by ``energy_key``."""
    keys = {d.key for d in sensor.SENSORS}
    assert {energy_key(total) for total, _ in ENERGY_TOTALS} <= keys
