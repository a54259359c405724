"""The opt-in cloud relay as the owner meets it (issue #22): options, entity, repair.

The cloud is a scripted loopback server (``tests/protocol/test_relay.py``); nothing
here reaches past 127.0.0.1. With the relay off, a test fails if anything connects out.
A cloud that accepts the link and stays silent counts as out of reach (issue #28).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
import json
from pathlib import Path
from typing import Any

from homeassistant.const import CONF_PORT, STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.alphaess_local import config_flow
from custom_components.alphaess_local.const import DOMAIN, RELAY_SUGGESTION
from custom_components.alphaess_local.protocol import Frame, relay as relay_module
from custom_components.alphaess_local.reload import async_update_options

from ..protocol.test_relay import ScriptedCloud, command, quick_deadlines
from .conftest import SERIAL, RecordedBattery
from .test_quiet import entity_id

OPTIONS = json.loads((Path(config_flow.__file__).parent / "strings.json").read_text())[
    "options"
]


@pytest.fixture
async def cloud(socket_enabled: None) -> AsyncGenerator[ScriptedCloud]:
    scripted = ScriptedCloud()
    await scripted.start()
    yield scripted
    await scripted.stop()


def relay_options(entry: MockConfigEntry, port: int, **more: Any) -> dict[str, Any]:
    return {
        **entry.options,
        "relay": True,
        "relay_upstream": f"127.0.0.1:{port}",
        "relay_pass": [],
        "relay_allow_update": False,
        **more,
    }


async def open_relay_step(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "allowlist": [],
            "dump_unknown_traffic": False,
            "unavailable_after": 5,
            "relay": True,
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "relay"
    return result


async def test_the_relay_step_explains_probes_and_refuses_our_own_listener(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, cloud: ScriptedCloud
) -> None:
    result = await open_relay_step(hass, loaded_entry)
    # The documented address is offered in the text, never filled in.
    assert result["description_placeholders"] == {"suggestion": RELAY_SUGGESTION}
    schema = {str(k): k.default() for k in result["data_schema"].schema}
    assert schema["relay_upstream"] == ""
    assert schema["relay_allow_update"] is False
    assert "leaves your house" in OPTIONS["step"]["relay"]["description"]
    own = loaded_entry.data[CONF_PORT]
    for typed, error in (
        ("no port", "invalid_upstream"),
        (f"127.0.0.1:{own}", "own_listener"),
    ):
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"relay_upstream": typed}
        )
        assert result["errors"] == {"relay_upstream": error}
        assert error in OPTIONS["error"]
    closed = ScriptedCloud()
    await closed.start()
    await closed.stop()
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"relay_upstream": f"127.0.0.1:{closed.port}"}
    )
    assert result["errors"] == {"relay_upstream": "cannot_reach"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"relay_upstream": f"127.0.0.1:{cloud.port}", "relay_pass": ["Resume"]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options["relay_upstream"] == f"127.0.0.1:{cloud.port}"
    assert loaded_entry.options["relay_pass"] == ["Resume"]
    assert loaded_entry.options["relay_allow_update"] is False
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.relay is not None


async def test_with_the_relay_on_the_cloud_hears_the_battery_and_the_owner_sees_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    cloud: ScriptedCloud,
) -> None:
    async_update_options(hass, loaded_entry, relay_options(loaded_entry, cloud.port))
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    # Login, heartbeat, event log, configuration request, report, record, realtime.
    await cloud.wait_for(lambda: len(cloud.frames) >= 8)
    stats = loaded_entry.runtime_data.server.relay_stats[SERIAL]
    async with asyncio.timeout(5):
        while stats.queued:
            await asyncio.sleep(0.01)
    # The entity follows on the battery's next push.
    last = client.session["realtime"][-1]
    await client.request(16, dict(last, Time="2021/03/24 10:03:00"))
    await hass.async_block_till_done()
    sensor = entity_id(hass, "binary_sensor", "cloud_relay")
    assert hass.states.get(sensor).state == STATE_ON  # type: ignore[union-attr]
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    relayed = diagnostics["batteries"]["AL90*********42"]["cloud_relay"]
    assert relayed["connected"] is True
    assert relayed["forwarded"] >= 8
    assert relayed["dropped"] == 0
    await cloud.stop()
    await client.request(16, dict(last, Time="2021/03/24 10:03:10"))
    async with asyncio.timeout(5):
        while stats.connected:
            await asyncio.sleep(0.01)
    await client.request(16, dict(last, Time="2021/03/24 10:03:20"))
    await hass.async_block_till_done()
    assert hass.states.get(sensor).state == STATE_OFF  # type: ignore[union-attr]


async def test_an_hour_out_of_reach_raises_the_repair(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    socket_enabled: None,
) -> None:
    gone = ScriptedCloud()
    await gone.start()
    await gone.stop()
    async_update_options(hass, loaded_entry, relay_options(loaded_entry, gone.port))
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    stats = loaded_entry.runtime_data.server.relay_stats[SERIAL]
    async with asyncio.timeout(5):
        while stats.unreachable_since is None:
            await asyncio.sleep(0.01)
    issue_id = f"relay_unreachable_{loaded_entry.entry_id}"
    last = client.session["realtime"][-1]
    await client.request(16, dict(last, Time="2021/03/24 10:03:00"))
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    stats.unreachable_since -= 3601  # an hour later, as far as the relay knows
    await client.request(16, dict(last, Time="2021/03/24 10:03:10"))
    await hass.async_block_till_done()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"upstream": f"127.0.0.1:{gone.port}"}
    # Back in reach: gone at once.
    stats.unreachable_since = None
    await client.request(16, dict(last, Time="2021/03/24 10:03:20"))
    await hass.async_block_till_done()
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_with_the_relay_off_nothing_connects_out(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[tuple[str, int]] = []

    async def refuse(host: str, port: int) -> Any:
        attempts.append((host, port))
        raise AssertionError("the relay is off: nothing may connect out")

    monkeypatch.setattr(relay_module, "_open", refuse)
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.relay is None
    assert attempts == []
    assert loaded_entry.runtime_data.server.relay_stats == {}
    assert (
        hass.states.get(f"binary_sensor.alphaess_{SERIAL[-4:]}_cloud_relay_connected")
        is None
    )


async def test_a_change_the_cloud_makes_is_shown_and_logged_as_the_clouds(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    cloud: ScriptedCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async_update_options(
        hass,
        loaded_entry,
        relay_options(loaded_entry, cloud.port, relay_pass=["SetConfig"]),
    )
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await cloud.wait_for(lambda: len(cloud.frames) >= 8)
    cloud.settings = {"GridCharge": "true"}
    cloud.send(command("SetConfig", "4242"))
    asked = (await client.frames(len(client.received) + 1))[-1]
    index = json.loads(asked.payload)["CmdIndex"]
    reply = {"Command": "SetConfig", "CmdIndex": index, "Status": "Success"}
    await client.send(Frame(2, 8, json.dumps(reply).encode()))
    answer = await client.request(3, {"SN": SERIAL})
    assert json.loads(answer.payload)["GridCharge"] == "true"
    # The battery applies it and reports back, as for any change.
    report = client.session["system_report_raw"].replace(
        '"GridCharge":"false"', '"GridCharge":"true"'
    )
    await client.request(4, report)
    await hass.async_block_till_done()
    grid_charge = entity_id(hass, "binary_sensor", "grid_charge")
    assert hass.states.get(grid_charge).state == STATE_ON  # type: ignore[union-attr]
    assert "Grid charging: off → on by the AlphaESS cloud" in caplog.text


async def test_a_silent_cloud_turns_the_sensor_off_and_starts_the_repairs_hour(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It accepts the link and never reads: connected, as far as TCP goes, and gone."""
    quick_deadlines(monkeypatch)
    silent = ScriptedCloud(reads=False)
    await silent.start()
    try:
        async_update_options(
            hass, loaded_entry, relay_options(loaded_entry, silent.port)
        )
        await hass.async_block_till_done()
        client: RecordedBattery = await battery()
        await client.replay()
        stats = loaded_entry.runtime_data.server.relay_stats[SERIAL]
        async with asyncio.timeout(5):
            while stats.unreachable_since is None or silent.connections < 2:
                await asyncio.sleep(0.01)
        # The battery's next push is acknowledged here and brings the entity along.
        last = client.session["realtime"][-1]
        await client.request(16, dict(last, Time="2021/03/24 10:03:00"))
        await hass.async_block_till_done()
        sensor = entity_id(hass, "binary_sensor", "cloud_relay")
        assert hass.states.get(sensor).state == STATE_OFF  # type: ignore[union-attr]
        issue_id = f"relay_unreachable_{loaded_entry.entry_id}"
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        stats.unreachable_since -= 3601  # an hour of silence, as far as the relay knows
        await client.request(16, dict(last, Time="2021/03/24 10:03:10"))
        await hass.async_block_till_done()
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is not None
    finally:
        await silent.stop()


async def test_an_upstream_without_a_port_relays_nothing(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Options saved by hand or by an older release: an address we cannot dial."""
    attempts: list[tuple[str, int]] = []

    async def refuse(host: str, port: int) -> Any:
        attempts.append((host, port))
        raise AssertionError("no usable upstream: nothing may connect out")

    monkeypatch.setattr(relay_module, "_open", refuse)
    options = relay_options(loaded_entry, 0, relay_upstream="www.alphaess.com")
    async_update_options(hass, loaded_entry, options)
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.relay is None
    assert attempts == []
    assert loaded_entry.runtime_data.server.relay_stats == {}


@pytest.mark.parametrize(("allowed", "reaches"), [(True, True), (False, False)])
async def test_a_firmware_update_needs_its_own_box(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    cloud: ScriptedCloud,
    allowed: bool,
    reaches: bool,
) -> None:
    """Listing ``Update`` among the passed commands is not enough: its box decides."""
    options = relay_options(
        loaded_entry, cloud.port, relay_pass=["Update"], relay_allow_update=allowed
    )
    async_update_options(hass, loaded_entry, options)
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await cloud.wait_for(lambda: len(cloud.frames) >= 8)
    cloud.send(command("Update", "4243", "http://203.0.113.9/firmware.bin"))
    if reaches:
        asked = (await client.frames(len(client.received) + 1))[-1]
        assert json.loads(asked.payload)["Command"] == "Update"
    else:
        await cloud.wait_for(lambda: bool(cloud.replies))
        assert cloud.replies[-1]["Status"] == "Failed"
        assert loaded_entry.runtime_data.server.relay_stats[SERIAL].blocked == 1
