"""The coordinator knows its source by ``source.py`` alone, and copes without extras.

A second source (a Modbus reader, issue #32) can read a battery but not ask it for
history, relay it to the vendor cloud, pin its login or change its settings. Here
such a source hands the coordinator the library's own events with records built by
the codec; the coordinator must show the battery, and do without the rest: no
backfill, no relay counts, no pins in the store, control refused.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from datetime import datetime

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.alphaess_local.const import CONF_ALLOW_CONTROL, DOMAIN
from custom_components.alphaess_local.coordinator import AlphaEssCoordinator
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    Disconnected,
    RealtimeRecord,
    Received,
)
from custom_components.alphaess_local.protocol.codec.messages import build_record
from custom_components.alphaess_local.source import (
    Capability,
    EventCallback,
    HistoryRequests,
    PinHolder,
    RelayCounts,
    SettingsChannel,
    Source,
)

from .conftest import SERIAL

STAMP = "%Y/%m/%d %H:%M:%S"
PEER = "192.0.2.7"


class ReadingOnly:
    """A source that only reads: every capability of ``source.py`` is missing."""

    history: HistoryRequests | None = None
    settings: SettingsChannel | None = None
    relay: RelayCounts | None = None
    pins: PinHolder | None = None
    capabilities: frozenset[Capability] = frozenset()

    def __init__(self) -> None:
        self.on_event: EventCallback | None = None
        self.expected: set[str] = set()
        self.forgotten: list[str] = []
        self.stopped = False

    @property
    def connected_serials(self) -> frozenset[str]:
        return frozenset()

    async def start(self, on_event: EventCallback, *, heard: bool) -> None:
        self.on_event = on_event

    async def stop(self) -> None:
        self.stopped = True

    def expect(self, batteries: Collection[str]) -> None:
        self.expected = set(batteries)

    def forget(self, serial: str) -> None:
        self.forgotten.append(serial)


def _battery_stamp(when: datetime) -> str:
    return dt_util.as_local(when).strftime(STAMP)


@pytest.fixture
async def started(
    hass: HomeAssistant,
) -> AsyncGenerator[tuple[AlphaEssCoordinator, ReadingOnly, MockConfigEntry]]:
    entry = MockConfigEntry(domain=DOMAIN, options={CONF_ALLOW_CONTROL: True})
    entry.add_to_hass(hass)
    source = ReadingOnly()
    typed: Source = source  # the protocol is all the coordinator asks for
    coordinator = AlphaEssCoordinator(hass, entry, typed)
    await coordinator.async_start()
    yield coordinator, source, entry
    if not source.stopped:  # the test failed before its own shutdown
        await coordinator.async_shutdown()


async def test_a_source_without_extras_feeds_the_coordinator(
    hass: HomeAssistant,
    hass_storage: dict[str, dict[str, object]],
    started: tuple[AlphaEssCoordinator, ReadingOnly, MockConfigEntry],
) -> None:
    coordinator, source, entry = started
    assert source.on_event is not None
    # Control was allowed in the options, but the source cannot change settings.
    assert not coordinator.control.allowed
    with pytest.raises(ServiceValidationError):
        await coordinator.control.async_apply(SERIAL, {"BatHighCap": 90}, None)
    assert coordinator.backfill is None

    now = dt_util.utcnow()
    stamp = _battery_stamp(now)
    source.on_event(
        Received(
            SERIAL,
            now,
            PEER,
            build_record(RealtimeRecord, {"Time": stamp, "SOC": "55.5"}),
        )
    )
    source.on_event(
        Received(
            SERIAL,
            now,
            PEER,
            build_record(DetailedRecord, {"Time": stamp, "EpvTotal": "433.0"}),
        )
    )
    await hass.async_block_till_done()
    state = coordinator.data[SERIAL]
    assert state.realtime is not None
    assert state.realtime.soc == 55.5
    assert state.energy["pv"] == 433.0
    assert state.relay is None
    assert source.expected == {SERIAL}  # told of the battery it found

    source.on_event(Disconnected(SERIAL, now, PEER))
    await hass.async_block_till_done()
    assert not state.connected

    coordinator.forget(SERIAL)
    assert source.forgotten == [SERIAL]
    assert SERIAL not in coordinator.data

    await coordinator.async_shutdown()
    assert source.stopped
    stored = hass_storage[f"{DOMAIN}.{entry.entry_id}"]["data"]
    assert isinstance(stored, dict)
    assert "pins" not in stored  # nothing pinned, nothing kept


async def test_records_without_a_battery_time_are_shown_in_receipt_order(
    hass: HomeAssistant,
    started: tuple[AlphaEssCoordinator, ReadingOnly, MockConfigEntry],
) -> None:
    """Registers read by a poll carry no battery clock: the newest read is shown.

    Once a timed record is shown, an untimed one cannot replace it: nothing tells
    whether it was read before or after.
    """
    coordinator, source, _entry = started
    assert source.on_event is not None
    now = dt_util.utcnow()

    def soc_shown(soc: str, *, timed: bool = False) -> float | None:
        payload = {"SOC": soc} | ({"Time": _battery_stamp(now)} if timed else {})
        record = build_record(RealtimeRecord, payload)
        assert source.on_event is not None
        source.on_event(Received(SERIAL, now, PEER, record))
        realtime = coordinator.data[SERIAL].realtime
        return None if realtime is None else realtime.soc

    assert soc_shown("21.0") == 21.0
    assert soc_shown("22.0") == 22.0
    assert soc_shown("30.0", timed=True) == 30.0
    assert soc_shown("99.0") == 30.0
    await coordinator.async_shutdown()
