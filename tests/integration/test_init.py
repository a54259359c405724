"""Setup, unload, reload, availability and repair issues."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
import json
import logging
import socket
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_PORT, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.alphaess_local.const import (
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.alphaess_local.coordinator import battery_device
from custom_components.alphaess_local.protocol import Frame
from custom_components.alphaess_local.protocol.simulator import (
    Identity,
    SimulatedBattery,
)
from custom_components.alphaess_local.reload import async_update_options

from ..protocol.conftest import HOST
from .conftest import SERIAL, RecordedBattery, device_of
from .test_sensor import entity_id


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


async def test_setup_unload_reload_release_the_port(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    port = loaded_entry.data[CONF_PORT]
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert not port_is_free(port)
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert port_is_free(port)


async def test_busy_port_is_not_ready(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    with socket.socket() as squatter:
        squatter.bind((HOST, config_entry.data[CONF_PORT]))
        squatter.listen()
        config_entry.add_to_hass(hass)
        await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        assert config_entry.state is ConfigEntryState.SETUP_RETRY
        assert config_entry.reason is not None
        assert (
            f"Port {config_entry.data[CONF_PORT]} is already in use"
            in config_entry.reason
        )


async def test_silent_battery_goes_unavailable_and_comes_back(
    hass: HomeAssistant,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    soc = entity_id(hass, "sensor", "state_of_charge")
    connected = entity_id(hass, "binary_sensor", "connected")
    assert hass.states.get(soc).state == "33.2"  # type: ignore[union-attr]

    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    assert hass.states.get(connected).state == STATE_OFF  # type: ignore[union-attr]
    assert caplog.text.count("has not been heard for 5 minutes") == 1

    # Its old link is dead (a live one that delivered a frame within the last minute
    # of loop time would not be taken over; simulated time does not move that clock).
    await client.close()
    back: RecordedBattery = await battery()
    await back.request(
        16, dict(client.session["realtime"][1], Time="2021/03/24 10:09:02", SOC="35.0")
    )
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == "35.0"  # type: ignore[union-attr]
    assert hass.states.get(connected).state == STATE_ON  # type: ignore[union-attr]
    assert caplog.text.count("is sending again") == 1


async def test_no_battery_repair_issue_until_one_connects(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    issues = ir.async_get(hass)
    issue_id = f"no_battery_{loaded_entry.entry_id}"
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "no_battery"
    assert issue.translation_placeholders == {
        "port": str(loaded_entry.data[CONF_PORT]),
        "minutes": "10",
    }
    client: RecordedBattery = await battery()
    await client.request(16, client.session["realtime"][0])
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None


async def test_second_battery_joins_live(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    # Both are the owner's (a second battery otherwise waits for confirmation).
    async_update_options(
        hass, loaded_entry, options={CONF_ALLOWLIST: [SERIAL, "AL2000000000002"]}
    )
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    simulated = SimulatedBattery(
        HOST,
        loaded_entry.data[CONF_PORT],
        identity=Identity(serial="AL2000000000002"),
        speed=100,
    )
    task = asyncio.create_task(simulated.run())
    try:
        async with asyncio.timeout(10):
            while (
                hass.states.get(
                    entity_id_or_none(hass, "AL2000000000002_pv_energy") or ""
                )
                is None
            ):
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await hass.async_block_till_done()
    devices = dr.async_entries_for_config_entry(
        dr.async_get(hass), loaded_entry.entry_id
    )
    # Told apart without renaming; entity ids do not repeat a word.
    assert sorted(d.name for d in devices) == ["AlphaESS 0002", "AlphaESS 0042"]
    assert (
        entity_id(hass, "sensor", "battery_power")
        == "sensor.alphaess_0042_battery_power"
    )
    assert {d.serial_number for d in devices} == {SERIAL, "AL2000000000002"}
    second = entity_id(hass, "sensor", "state_of_charge", "AL2000000000002")
    assert hass.states.get(second).state != STATE_UNAVAILABLE  # type: ignore[union-attr]


def entity_id_or_none(hass: HomeAssistant, unique_id: str) -> str | None:
    return er.async_get(hass).async_get_entity_id("sensor", DOMAIN, unique_id)


async def test_allowlist_option_keeps_strangers_out(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    async_update_options(
        hass,
        loaded_entry,
        options={
            CONF_ALLOWLIST: ["AL1111111111111"],
            CONF_DUMP: False,
            CONF_UNAVAILABLE_AFTER: 5,
        },
    )
    await hass.async_block_till_done()  # the options listener reloads the entry
    assert loaded_entry.state is ConfigEntryState.LOADED
    stranger: RecordedBattery = await battery()
    await stranger.send(
        Frame(1, 16, json.dumps(stranger.session["realtime"][0]).encode())
    )
    assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    assert (
        dr.async_entries_for_config_entry(dr.async_get(hass), loaded_entry.entry_id)
        == []
    )


async def test_remove_device_only_when_disconnected(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    from custom_components.alphaess_local import async_remove_config_entry_device

    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    device = battery_device(dr.async_get(hass), loaded_entry.entry_id, SERIAL)
    assert device is not None
    assert not await async_remove_config_entry_device(hass, loaded_entry, device)
    await client.close()
    async with asyncio.timeout(5):
        while loaded_entry.runtime_data.server.connected_serials:
            await asyncio.sleep(0.01)
    assert await async_remove_config_entry_device(hass, loaded_entry, device)
    assert SERIAL not in loaded_entry.runtime_data.data


async def test_a_battery_that_keeps_pushing_stays_available(
    hass: HomeAssistant,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The silence timer is armed once and re-armed from the last push when it fires."""
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    soc = entity_id(hass, "sensor", "state_of_charge")
    last = client.session["realtime"][-1]
    stamp = datetime.strptime(last["Time"], "%Y/%m/%d %H:%M:%S")
    for minute in range(1, 13):  # twelve minutes, one push a minute
        freezer.tick(timedelta(minutes=1))
        moment = stamp + timedelta(minutes=minute)
        await client.request(
            16, dict(last, Time=moment.strftime("%Y/%m/%d %H:%M:%S"), SOC=f"{minute}")
        )
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        assert hass.states.get(soc).state == f"{minute:.1f}"  # type: ignore[union-attr]
    freezer.tick(timedelta(minutes=4))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == "12.0"  # type: ignore[union-attr]
    freezer.tick(timedelta(minutes=2))  # five minutes and more since the last push
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_a_setup_that_fails_after_listening_releases_the_port(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A platform that breaks must not leave the port taken for the retry."""

    async def broken(*_args: Any) -> None:
        raise RuntimeError("a platform broke")

    monkeypatch.setattr(hass.config_entries, "async_forward_entry_setups", broken)
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert port_is_free(config_entry.data[CONF_PORT])


async def test_a_platform_that_will_not_unload_keeps_the_listener(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Entities still shown keep their battery connected; nothing is half stopped."""
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()

    async def refuse(*_args: Any) -> bool:
        return False

    with monkeypatch.context() as patched:
        patched.setattr(hass.config_entries, "async_unload_platforms", refuse)
        assert not await hass.config_entries.async_unload(loaded_entry.entry_id)
        await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.FAILED_UNLOAD
    assert not port_is_free(loaded_entry.data[CONF_PORT])
    soc = entity_id(hass, "sensor", "state_of_charge")
    later = dict(client.session["realtime"][-1], Time="2021/03/24 10:09:00", SOC="41.0")
    await client.request(16, later)
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == "41.0"  # type: ignore[union-attr]
    await loaded_entry.runtime_data.coordinator.async_shutdown()


async def test_removing_an_entry_leaves_other_entries_issues(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    other_port = socket.socket()
    with other_port:
        other_port.bind((HOST, 0))
        port = other_port.getsockname()[1]
    other = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(port),
        data={"host": HOST, CONF_PORT: port},
    )
    other.add_to_hass(hass)
    assert await hass.config_entries.async_setup(other.entry_id)
    ir.async_create_issue(
        hass,
        "homeassistant",
        f"unrelated_{loaded_entry.entry_id}",
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="unrelated",
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issues = ir.async_get(hass)
    ours = f"no_battery_{loaded_entry.entry_id}"
    theirs = f"no_battery_{other.entry_id}"
    assert issues.async_get_issue(DOMAIN, ours) is not None
    assert issues.async_get_issue(DOMAIN, theirs) is not None
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, ours) is None
    assert issues.async_get_issue(DOMAIN, theirs) is not None
    unrelated = f"unrelated_{loaded_entry.entry_id}"
    assert issues.async_get_issue("homeassistant", unrelated) is not None
    assert await hass.config_entries.async_unload(other.entry_id)
    await hass.async_block_till_done()


async def test_a_host_clock_stepped_back_still_notices_silence_in_time(
    hass: HomeAssistant,
    battery: Callable[[], Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """The host's clock was an hour fast and is corrected (NTP) while a battery talks.

    Its last message then looks an hour in the future. The wait starts again rather
    than stretching by that hour: a battery that falls silent after the step is still
    unavailable five minutes later, not an hour and five.
    """
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    soc = entity_id(hass, "sensor", "state_of_charge")
    freezer.move_to(dt_util.utcnow() - timedelta(hours=1))
    # The silence timer comes due as the clock steps: it sees the last message ahead.
    async_fire_time_changed(hass, dt_util.utcnow(), fire_all=True)
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == "33.2"  # type: ignore[union-attr]
    freezer.tick(timedelta(minutes=1))
    last = client.session["realtime"][-1]
    await client.request(16, dict(last, Time="2021/03/24 10:09:00", SOC="34.0"))
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == "34.0"  # type: ignore[union-attr]
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    assert hass.states.get(soc).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_a_silent_battery_can_be_deleted(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    """Gone quiet, its silence timer spent: the owner removes it without an error."""
    from custom_components.alphaess_local import async_remove_config_entry_device

    client: RecordedBattery = await battery()
    await client.replay()
    await client.close()
    async with asyncio.timeout(5):
        while loaded_entry.runtime_data.server.connected_serials:
            await asyncio.sleep(0.01)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=6))
    await hass.async_block_till_done()
    soc = entity_id(hass, "sensor", "state_of_charge")
    assert hass.states.get(soc).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    device = device_of(hass, loaded_entry.entry_id, SERIAL)
    assert device is not None
    assert await async_remove_config_entry_device(hass, loaded_entry, device)
    assert SERIAL not in loaded_entry.runtime_data.data
