"""Opt-in control, round-tripped through the simulated battery over TCP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta
import logging
from typing import Any

from homeassistant.const import CONF_PORT, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    MockUser,
    async_fire_time_changed,
)

from custom_components.alphaess_local import const
from custom_components.alphaess_local.const import (
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.alphaess_local.coordinator import battery_device
from custom_components.alphaess_local.protocol.simulator import SimulatedBattery
from custom_components.alphaess_local.reload import async_update_options

from ..protocol.conftest import HOST
from .conftest import SERIAL, RecordedBattery

OPTIONS = {CONF_ALLOWLIST: [], CONF_DUMP: False, CONF_UNAVAILABLE_AFTER: 5}


def setting_entity(hass: HomeAssistant, platform: str, key: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{SERIAL}_{key}")


async def settle(hass: HomeAssistant) -> None:
    """Home Assistant's clock past the settle; the change is sent and answered."""
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(seconds=const.SETTING_SETTLE)
    )
    async with asyncio.timeout(30):
        await hass.async_block_till_done(wait_background_tasks=True)


async def settled[T](hass: HomeAssistant, call: Awaitable[T]) -> T:
    """``call`` to a setting entity, then the settle it starts."""
    result = await call
    await settle(hass)
    return result


async def set_value(
    hass: HomeAssistant, entity_id: str | None, **value: float | str
) -> None:
    """The owner sets a number (``value=``) or a time (``time=``), as the UI does."""
    domain = "time" if "time" in value else "number"
    await hass.services.async_call(
        domain, "set_value", {"entity_id": entity_id, **value}, blocking=True
    )


async def allow_control(
    hass: HomeAssistant, entry: MockConfigEntry, allowed: bool
) -> None:
    async_update_options(hass, entry, options={**OPTIONS, CONF_ALLOW_CONTROL: allowed})
    await hass.async_block_till_done()


@pytest.fixture
async def simulated(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> AsyncGenerator[Callable[[], Any]]:
    batteries: list[tuple[SimulatedBattery, asyncio.Task[None]]] = []

    async def _start() -> SimulatedBattery:
        battery = SimulatedBattery(HOST, loaded_entry.data[CONF_PORT], speed=100)
        task = asyncio.create_task(battery.run())
        batteries.append((battery, task))
        coordinator = loaded_entry.runtime_data
        async with asyncio.timeout(10):
            while (
                state := coordinator.data.get(SERIAL)
            ) is None or state.report is None:
                await asyncio.sleep(0.02)
        await hass.async_block_till_done()
        return battery

    yield _start
    for battery, task in batteries:
        # Offline first: a battery cancelled halfway through reconnecting (the entry
        # reloads when control is allowed) could leave its socket to the collector.
        battery.go_offline()
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_control_off_means_no_entities_and_no_settings(
    hass: HomeAssistant, simulated: Callable[[], Any]
) -> None:
    battery: SimulatedBattery = await simulated()
    for platform, key in (
        ("switch", "grid_charging"),
        ("number", "charge_stop_soc"),
        ("time", "charge_window_1_start"),
    ):
        assert setting_entity(hass, platform, key) is None
    assert battery.config_answers
    assert all(answer == {"Status": "Success"} for answer in battery.config_answers)


async def test_control_before_any_report_is_unavailable(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    client: RecordedBattery = await battery()
    await client.request(16, client.session["realtime"][0])
    await hass.async_block_till_done()
    switch = setting_entity(hass, "switch", "grid_charging")
    assert switch is not None
    assert hass.states.get(switch).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_change_round_trips_and_only_changed_keys_differ(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    simulated: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    switch = setting_entity(hass, "switch", "grid_charging")
    assert switch is not None
    assert hass.states.get(switch).state == STATE_OFF  # type: ignore[union-attr]
    before = dict(loaded_entry.runtime_data.data[SERIAL].report.raw)  # type: ignore[union-attr]
    caplog.set_level(logging.INFO)

    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": switch}, blocking=True
    )

    answer = battery.config_answers[-1]
    changed = {k for k in answer if k != "Status" and answer[k] != before.get(k)}
    assert changed == {"GridCharge"}
    assert answer["GridCharge"] == "true"  # a string, as the battery sent it
    assert set(answer) - {"Status"} == set(before)
    assert battery.settings["GridCharge"] == "true"
    assert hass.states.get(switch).state == STATE_ON  # type: ignore[union-attr]
    # In plain words, by name, only what changed.
    assert "Grid charging: off → on by " in caplog.text
    assert "Timed discharge" not in caplog.text
    assert "Example" not in caplog.text
    assert battery.identity.password not in caplog.text


async def test_out_of_range_values_are_refused(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    answers = len(battery.config_answers)
    stop = setting_entity(hass, "number", "charge_stop_soc")
    window = setting_entity(hass, "time", "charge_window_1_start")
    with pytest.raises(ServiceValidationError) as err:
        await settled(hass, set_value(hass, stop, value=5))
    assert err.value.translation_key == "stop_below_cutoff"
    with pytest.raises(ServiceValidationError) as err:
        await settled(hass, set_value(hass, window, time="02:30:00"))
    assert err.value.translation_key == "whole_hours_only"
    with pytest.raises(ServiceValidationError):
        await settled(hass, set_value(hass, stop, value=150))
    assert len(battery.config_answers) == answers  # nothing was sent


async def test_battery_that_ignores_the_change_reverts(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    simulated: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(const, "CONTROL_TIMEOUT", 1.0)
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    battery.ignore_settings = True
    stop = setting_entity(hass, "number", "charge_stop_soc")
    assert stop is not None
    # The call returns once the value is checked; the battery's silence is logged.
    await settled(hass, set_value(hass, stop, value=90))
    assert float(hass.states.get(stop).state) == 100  # type: ignore[union-attr]
    assert "did not apply BatHighCap" in caplog.text


async def test_two_quick_changes_are_serialised(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    stop = setting_entity(hass, "number", "charge_stop_soc")
    end = setting_entity(hass, "time", "discharge_window_2_end")
    await settled(
        hass,
        asyncio.gather(
            set_value(hass, stop, value=90), set_value(hass, end, time="06:00:00")
        ),
    )
    assert battery.settings["BatHighCap"] == "90"
    assert battery.settings["TimeDisE2"] == "6"
    # The second answer was built on the report that confirmed the first.
    last = battery.config_answers[-1]
    assert (last["BatHighCap"], last["TimeDisE2"]) == ("90", "6")
    assert hass.states.get(end).state == "06:00:00"  # type: ignore[union-attr]


async def test_hour_then_minute_edits_write_once_the_final_value(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    answers = len(battery.config_answers)
    start = setting_entity(hass, "time", "charge_window_1_start")
    # The time field sends each part as it is edited: 05:00, then 06:00, 06:00.
    await set_value(hass, start, time="05:00:00")
    await set_value(hass, start, time="06:00:00")
    await hass.async_block_till_done()
    assert len(battery.config_answers) == answers  # nothing before the settle
    await settled(hass, set_value(hass, start, time="06:00:00"))
    sent = [a["TimeChaF1"] for a in battery.config_answers[answers:] if len(a) > 1]
    assert sent == ["6"]
    assert hass.states.get(start).state == "06:00:00"  # type: ignore[union-attr]


async def test_a_refused_final_edit_writes_nothing(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    """02:30 typed: the hour alone (02:00) came first, then the refused minutes."""
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    answers = len(battery.config_answers)
    start = setting_entity(hass, "time", "charge_window_1_start")
    await set_value(hass, start, time="02:00:00")
    with pytest.raises(ServiceValidationError) as err:
        await set_value(hass, start, time="02:30:00")
    assert err.value.translation_key == "whole_hours_only"
    # Well past the settle: the hour alone is never sent.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=1))
    async with asyncio.timeout(30):
        await hass.async_block_till_done(wait_background_tasks=True)
    assert len(battery.config_answers) == answers
    assert hass.states.get(start).state == "00:00:00"  # type: ignore[union-attr]


async def test_set_charge_schedule_action(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    await hass.services.async_call(
        DOMAIN,
        "set_charge_schedule",
        {
            "device_id": device.id,
            "grid_charge": True,
            "start": "02:00:00",
            "end": "05:00:00",
            "charge_stop_soc": 80,
        },
        blocking=True,
    )
    settings = battery.settings
    assert (
        settings["GridCharge"],
        settings["TimeChaF1"],
        settings["TimeChaE1"],
        settings["BatHighCap"],
    ) == ("true", "2", "5", "80")
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "set_charge_schedule", {"device_id": "nope"}, blocking=True
        )
    assert err.value.translation_key == "device_not_found"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN, "set_charge_schedule", {"device_id": device.id}, blocking=True
        )
    assert err.value.translation_key == "nothing_to_change"


async def test_action_refused_while_control_is_off(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    battery: SimulatedBattery = await simulated()
    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    settings = dict(battery.settings)
    assert settings["GridCharge"] == "false"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "grid_charge": True},
            blocking=True,
        )
    assert err.value.translation_key == "control_disabled"
    # Nothing reached the battery: no SetConfig, no settings in any answer.
    assert [c.command for c in battery.commands if c.command == "SetConfig"] == []
    assert all(answer == {"Status": "Success"} for answer in battery.config_answers)
    assert battery.settings == settings


async def test_action_refuses_what_it_cannot_send(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulated: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    battery: SimulatedBattery = await simulated()
    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    answers = len(battery.config_answers)

    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "window": 2, "end": "05:30:00"},
            blocking=True,
        )
    assert err.value.translation_key == "whole_hours_only"
    # What the battery already shows needs no SetConfig at all.
    await hass.services.async_call(
        DOMAIN,
        "set_charge_schedule",
        {"device_id": device.id, "grid_charge": False, "charge_stop_soc": 100},
        blocking=True,
    )
    assert [c.command for c in battery.commands if c.command == "SetConfig"] == []
    assert len(battery.config_answers) == answers

    # A battery whose entry is not loaded cannot be reached.
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "grid_charge": True},
            blocking=True,
        )
    assert err.value.translation_key == "device_not_found"
    assert battery.settings["GridCharge"] == "false"


async def test_action_before_the_first_report_fails_plainly(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    await allow_control(hass, loaded_entry, True)
    client: RecordedBattery = await battery()
    await client.request(16, client.session["realtime"][0])
    await hass.async_block_till_done()
    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    sent = len(client.received)
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "grid_charge": True},
            blocking=True,
        )
    assert err.value.translation_key == "no_report"
    assert len(client.received) == sent  # no SetConfig went out


async def test_changes_are_logged_with_the_name_of_who_made_them(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    simulated: Callable[[], Any],
    hass_admin_user: MockUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await allow_control(hass, loaded_entry, True)
    await simulated()
    switch = setting_entity(hass, "switch", "grid_charging")
    caplog.set_level(logging.INFO)
    await hass.services.async_call(
        "switch",
        "turn_on",
        {"entity_id": switch},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert f"Grid charging: off → on by {hass_admin_user.name}" in caplog.text
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": switch}, blocking=True
    )
    assert "Grid charging: on → off by an automation" in caplog.text
    assert hass_admin_user.id not in caplog.text
