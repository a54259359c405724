"""Quiet by default: a push that changes no measurement writes no state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant

from .conftest import RecordedBattery
from .test_sensor import entity_id


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
