"""New batteries need the owner's yes; one connection cannot flood the device registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import json
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local.admission import (
    MAX_UNCONFIRMED,
    new_battery_issue_id,
)
from custom_components.alphaess_local.const import (
    CONF_ALLOWLIST,
    CONF_SOURCE,
    DOMAIN,
    SOURCE_MODBUS,
)
from custom_components.alphaess_local.protocol import Frame
from custom_components.alphaess_local.reload import async_update_options
from custom_components.alphaess_local.repairs import AddBatteryFlow

from ..protocol.conftest import HOST
from .conftest import SERIAL, RecordedBattery
from .repair_text import STRINGS, render

SECOND = "AL9002021030077"


def devices(hass: HomeAssistant, entry: MockConfigEntry) -> list[dr.DeviceEntry]:
    return dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)


def our_issues(hass: HomeAssistant) -> list[ir.IssueEntry]:
    return [
        i
        for (domain, _), i in ir.async_get(hass).issues.items()
        if domain == DOMAIN and i.translation_key == "new_battery"
    ]


def realtime_of(client: RecordedBattery, serial: str) -> Frame:
    record = dict(client.session["realtime"][0], SN=serial)
    return Frame(1, 16, json.dumps(record).encode())


async def test_second_battery_waits_for_the_owner(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    hass_client: ClientSessionGenerator,
) -> None:
    first: RecordedBattery = await battery()
    await first.replay()
    await hass.async_block_till_done()
    assert len(devices(hass, loaded_entry)) == 1

    second: RecordedBattery = await battery()
    await second.send(realtime_of(second, SECOND))
    assert await second.closed_by_server()
    await hass.async_block_till_done()
    assert len(devices(hass, loaded_entry)) == 1
    (issue,) = our_issues(hass)
    assert issue.issue_id == new_battery_issue_id(loaded_entry.entry_id, SECOND)
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["serial"] == "AL90*********77"
    assert issue.is_fixable

    # The owner says yes: both batteries end up on the allowlist.
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue.issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm_no_model"
    assert flow["description_placeholders"]["serial"] == "AL90*********77"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert loaded_entry.options[CONF_ALLOWLIST] == [SERIAL, SECOND]
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert our_issues(hass) == []

    again: RecordedBattery = await battery()
    await again.request(16, dict(again.session["realtime"][0], SN=SECOND))
    await hass.async_block_till_done()
    assert len(devices(hass, loaded_entry)) == 2


async def test_three_hundred_serials_create_one_device_and_one_issue(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    first: RecordedBattery = await battery()
    await first.replay()
    await hass.async_block_till_done()
    flood: RecordedBattery = await battery()
    for n in range(300):
        await flood.send(realtime_of(flood, f"AL90000000{n:05d}"))
    assert await flood.closed_by_server()
    await hass.async_block_till_done()
    assert len(devices(hass, loaded_entry)) == 1
    assert len(our_issues(hass)) == 1


async def test_unconfirmed_serials_are_bounded(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    first: RecordedBattery = await battery()
    await first.replay()
    await hass.async_block_till_done()
    for n in range(30):
        stranger: RecordedBattery = await battery()
        await stranger.send(realtime_of(stranger, f"AL80000000{n:05d}"))
        assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    assert len(our_issues(hass)) == MAX_UNCONFIRMED
    assert len(loaded_entry.runtime_data.admission.unconfirmed) == MAX_UNCONFIRMED
    assert len(devices(hass, loaded_entry)) == 1


async def test_twenty_batteries_on_one_entry(
    hass: HomeAssistant, port: int, battery_at: Callable[[int], Any]
) -> None:
    serials = [f"AL90020210300{n:02d}" for n in range(20)]
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(port),
        data={CONF_HOST: HOST, CONF_PORT: port},
        options={CONF_ALLOWLIST: serials},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # Sized from the batteries the entry allows, with headroom for newcomers.
    assert entry.runtime_data.server.max_connections >= 20 + 8
    # All on 127.0.0.1 here: each names itself at once, as a battery does (more than
    # four silent connections from one address make room for each other).
    for serial in serials:
        client: RecordedBattery = await battery_at(port)
        await client.request(16, dict(client.session["realtime"][0], SN=serial))
    await hass.async_block_till_done()
    assert len(devices(hass, entry)) == 20
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_removing_the_entry_removes_its_issues(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    first: RecordedBattery = await battery()
    await first.replay()
    stranger: RecordedBattery = await battery()
    await stranger.send(realtime_of(stranger, SECOND))
    assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    assert len(our_issues(hass)) == 1
    assert await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert our_issues(hass) == []


async def say_yes(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, issue_id: str
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()


async def test_yes_while_the_entry_is_unloaded_keeps_the_batteries_it_has(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    hass_client: ClientSessionGenerator,
) -> None:
    """An empty allowlist meant every known battery: its devices say which they are."""
    first: RecordedBattery = await battery()
    await first.replay()
    stranger: RecordedBattery = await battery()
    await stranger.send(realtime_of(stranger, SECOND))
    assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    (issue,) = our_issues(hass)
    assert await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    await say_yes(hass, hass_client, issue.issue_id)
    assert loaded_entry.options[CONF_ALLOWLIST] == [SERIAL, SECOND]
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED


async def test_yes_adds_to_an_allowlist_and_brings_back_no_one_else(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    hass_client: ClientSessionGenerator,
) -> None:
    """A list the owner typed meanwhile stands: a device left off it stays off."""
    left_off = "AL9002021030099"
    dr.async_get(hass).async_get_or_create(
        config_entry_id=loaded_entry.entry_id, identifiers={(DOMAIN, left_off)}
    )
    first: RecordedBattery = await battery()
    await first.replay()
    stranger: RecordedBattery = await battery()
    await stranger.send(realtime_of(stranger, SECOND))
    assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    (issue,) = our_issues(hass)
    async_update_options(hass, loaded_entry, {CONF_ALLOWLIST: [SERIAL]})
    await hass.async_block_till_done()
    await say_yes(hass, hass_client, issue.issue_id)
    assert loaded_entry.options[CONF_ALLOWLIST] == [SERIAL, SECOND]


async def test_yes_after_the_entry_was_removed_aborts(hass: HomeAssistant) -> None:
    flow = AddBatteryFlow("entry-deleted-meanwhile", SECOND)
    flow.hass = hass
    form = await flow.async_step_init()
    assert form["type"] is FlowResultType.FORM
    assert form["description_placeholders"]["serial"] == "AL90*********77"
    result = await flow.async_step_confirm({})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_removed"


async def shown_to_owner(
    hass: HomeAssistant, client: ClientSessionGenerator, issue: ir.IssueEntry
) -> dict[str, str]:
    """The new-battery repair as the owner reads it: its title and its fix step."""
    assert issue.translation_placeholders is not None
    strings = STRINGS["issues"]["new_battery"]
    http = await client()
    response = await http.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue.issue_id}
    )
    flow = await response.json()
    await http.delete(f"/api/repairs/issues/fix/{flow['flow_id']}")
    step = strings["fix_flow"]["step"][flow["step_id"]]
    placeholders = flow["description_placeholders"]
    return {
        "title": render(strings["title"], issue.translation_placeholders),
        "step": flow["step_id"],
        "step_title": render(step["title"], placeholders),
        "description": render(step["description"], placeholders),
    }


async def test_new_battery_repair_names_address_model_and_first_sight(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """Two masked digits cannot tell the owner's battery from a stranger's."""
    assert await async_setup_component(hass, "repairs", {})
    first: RecordedBattery = await battery()
    await first.replay()
    before = dt_util.now().replace(microsecond=0)
    stranger: RecordedBattery = await battery()
    await stranger.send(realtime_of(stranger, SECOND))
    assert await stranger.closed_by_server()
    await hass.async_block_till_done()
    after = dt_util.now()
    (issue,) = our_issues(hass)
    assert issue.translation_placeholders is not None
    # First seen in Home Assistant's time zone, to the second.
    first_seen = datetime.strptime(
        issue.translation_placeholders["first_seen"], "%Y-%m-%d %H:%M:%S"
    ).replace(tzinfo=dt_util.get_default_time_zone())
    assert before <= first_seen <= after
    unknown = await shown_to_owner(hass, hass_client, issue)

    # It comes back and its first record is its system report: the model is known
    # now; when it was first seen stays.
    report = json.loads(stranger.session["system_report_raw"])
    again: RecordedBattery = await battery()
    await again.send(Frame(1, 4, json.dumps(dict(report, SN=SECOND)).encode()))
    assert await again.closed_by_server()
    await hass.async_block_till_done()
    (issue,) = our_issues(hass)
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["first_seen"] == first_seen.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    known = await shown_to_owner(hass, hass_client, issue)
    assert SECOND not in json.dumps([unknown, known])
    texts = {"model not reported": unknown, "model reported": known}
    when = first_seen.strftime("%Y-%m-%d %H:%M:%S")
    assert all(when in text["description"] for text in texts.values())
    for text in texts.values():
        text["description"] = text["description"].replace(when, "<first seen>")
    assert texts == snapshot.use_extension(HomeAssistantSnapshotExtension)


async def test_a_battery_a_modbus_entry_reads_is_not_served_by_the_listener(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One serial, one entry: the listener refuses a battery read over Modbus."""
    modbus = MockConfigEntry(
        domain=DOMAIN,
        title="AlphaESS Modbus (192.168.1.40)",
        unique_id=SERIAL,
        data={CONF_SOURCE: SOURCE_MODBUS, CONF_HOST: "192.168.1.40"},
    )
    modbus.add_to_hass(hass)  # not loaded: the serial is still its
    for _ in range(2):
        client: RecordedBattery = await battery()
        await client.send(realtime_of(client, SERIAL))
        assert await client.closed_by_server()
        await hass.async_block_till_done()
    # Not even the first-battery rule serves it: no device, no new-battery repair.
    assert devices(hass, loaded_entry) == []
    assert our_issues(hass) == []
    told = [r for r in caplog.records if "reads it over Modbus TCP" in r.getMessage()]
    assert len(told) == 1  # once, however often it retries
    assert SERIAL not in caplog.text
