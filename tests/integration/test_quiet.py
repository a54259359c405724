"""Quiet by default: a push that changes no measurement writes no state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.alphaess_local.const import CONF_ALLOWLIST, DOMAIN
from custom_components.alphaess_local.entity import AlphaEssEntity
from custom_components.alphaess_local.reload import async_update_options

from .conftest import SERIAL, RecordedBattery
from .test_sensor import entity_id


@callback
def _every(_event_data: Any) -> bool:
    return True


async def test_pushes_with_the_same_values_write_no_state(
    hass: HomeAssistant, battery: Callable[[], Any]
) -> None:
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    changed: list[str] = []

    def _listen(event: Event[Any]) -> None:
        changed.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, _listen)
    hass.bus.async_listen(EVENT_STATE_REPORTED, _listen, event_filter=_every)
    last = client.session["realtime"][-1]
    stamp = datetime.strptime(last["Time"], "%Y/%m/%d %H:%M:%S")
    for n in range(1, 13):  # two minutes of pushes, nothing measured changes
        moment = stamp + timedelta(seconds=10 * n)
        await client.request(16, dict(last, Time=moment.strftime("%Y/%m/%d %H:%M:%S")))
        await hass.async_block_till_done()
    assert changed == []
    # The listener does hear a change: one measurement moving writes that one state.
    moment = stamp + timedelta(seconds=130)
    await client.request(
        16, dict(last, Time=moment.strftime("%Y/%m/%d %H:%M:%S"), SOC="35.0")
    )
    await hass.async_block_till_done()
    assert changed == [entity_id(hass, "sensor", "state_of_charge")]


async def test_a_push_touches_only_its_own_battery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    other = "AL9002021030077"
    async_update_options(hass, loaded_entry, options={CONF_ALLOWLIST: [SERIAL, other]})
    await hass.async_block_till_done()
    first: RecordedBattery = await battery()
    await first.replay()
    second: RecordedBattery = await battery()
    for record in second.session["realtime"]:
        await second.request(16, dict(record, SN=other))
    await hass.async_block_till_done()
    written: list[str] = []

    def _listen(event: Event[Any]) -> None:
        written.append(event.data["entity_id"])

    # Every write counts, also one that leaves the state as it was ("reported").
    hass.bus.async_listen(EVENT_STATE_CHANGED, _listen)
    hass.bus.async_listen(EVENT_STATE_REPORTED, _listen, event_filter=_every)
    last = first.session["realtime"][-1]
    await first.request(16, dict(last, Time="2021/03/24 10:09:00", SOC="50.0"))
    await hass.async_block_till_done()
    assert written == ["sensor.alphaess_0042_state_of_charge"]


async def test_a_realtime_push_asks_only_the_entities_that_read_it(
    hass: HomeAssistant,
    battery: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    shown, show = AlphaEssEntity._shown, AlphaEssEntity._show

    # An entity is asked either way: told its new value, or to work out its state.
    def _spy_shown(entity: AlphaEssEntity) -> tuple[bool, object]:
        asked.append(entity.entity_id)
        return shown(entity)

    def _spy_show(entity: AlphaEssEntity, value: object) -> None:
        asked.append(entity.entity_id)
        show(entity, value)

    monkeypatch.setattr(AlphaEssEntity, "_shown", _spy_shown)
    monkeypatch.setattr(AlphaEssEntity, "_show", _spy_show)
    # Entities hand the coordinator their bound methods when made: spied from the start.
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    asked.clear()
    last = client.session["realtime"][-1]
    stamp = datetime.strptime(last["Time"], "%Y/%m/%d %H:%M:%S")
    moment = (stamp + timedelta(seconds=10)).strftime("%Y/%m/%d %H:%M:%S")
    await client.request(16, dict(last, Time=moment, SOC="50.0"))
    await hass.async_block_till_done()
    # Only the realtime sensor whose value moved (the state of charge): not battery
    # power, whose value stayed, nor the event log, nor the detail, energy or report
    # sensors.
    assert asked == [entity_id(hass, "sensor", "state_of_charge")]
    registry = er.async_get(hass)
    others = [
        found
        for key in (
            "pv_energy",
            "battery_voltage",
            "battery_capacity",
            "inverter_temperature",
        )
        if (found := registry.async_get_entity_id("sensor", DOMAIN, f"{SERIAL}_{key}"))
    ]
    assert len(others) >= 2
    assert not set(others) & set(asked)
    assert entity_id(hass, "binary_sensor", "fault") not in asked
    assert len(asked) < len(hass.states.async_entity_ids()) / 2

    # A detailed record asks the detail sensors, not the realtime ones.
    asked.clear()
    detail = client.session["detail"]
    moment = (stamp + timedelta(seconds=15)).strftime("%Y/%m/%d %H:%M:%S")
    total = float(detail["EpvTotal"]) + 0.1
    await client.request(5, dict(detail, Time=moment, EpvTotal=f"{total:.1f}"))
    await hass.async_block_till_done()
    assert entity_id(hass, "sensor", "pv_energy") in asked
    assert entity_id(hass, "binary_sensor", "fault") in asked
    assert entity_id(hass, "sensor", "battery_power") not in asked
