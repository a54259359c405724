"""Who and what is on the port, as the owner sees it in Home Assistant (issue #20).

Real loopback connections against the entry's listener: a battery and an impostor
with the battery's serial, a real TLS client, MQTT and HTTP bytes, a flood of
ClientHellos. What the owner sees is checked: sensor states, repair issues with their
translated text, and what goes away when a battery delivers data or the entry goes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
import json
import logging
from pathlib import Path
import re
import ssl
from typing import Any

from homeassistant.components.repairs import DOMAIN as REPAIRS_DOMAIN
from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.alphaess_local import port_issues
from custom_components.alphaess_local.const import CONF_ALLOWLIST, DOMAIN
from custom_components.alphaess_local.port_issues import (
    NEW_CREDENTIALS,
    NO_BATTERY,
    TLS_REFUSED,
    foreign_issue_key,
)
from custom_components.alphaess_local.protocol import ForeignKind, Refusal
from custom_components.alphaess_local.reload import async_update_options

from ..conftest import load_session
from ..protocol.conftest import HOST, RawClient
from ..protocol.test_recognize import recorded_client_hello
from .conftest import SERIAL, RecordedBattery
from .test_quiet import entity_id

STRINGS = json.loads((Path(port_issues.__file__).parent / "strings.json").read_text())
MQTT_CONNECT = (
    b"\x10\x2a\x00\x04MQTT\x04\xc2\x00\x3c"
    b"\x00\x0fAL9002021030042"
    b"\x00\x0fAL9002021030042"
    b"\x00\x04pass"
)
HTTP_GET = b"GET / HTTP/1.1\r\nHost: www.alphaess.com\r\n\r\n"


def login(password: str) -> dict[str, str]:
    return {"UserName": SERIAL, "Password": password, "CompanyName": "AlphaESS"}


async def tls_hello(port: int) -> None:
    """A battery whose firmware encrypts: a TLS handshake to the cloud's name."""
    context = ssl.create_default_context()
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await asyncio.open_connection(
            HOST, port, ssl=context, server_hostname="www.alphaess.com"
        )


def our_issues(hass: HomeAssistant) -> dict[str, ir.IssueEntry]:
    return {
        issue_id: issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN
    }


def rendered(issue: ir.IssueEntry) -> str:
    """The issue's text as the owner reads it: placeholders filled in."""
    text = STRINGS["issues"][issue.translation_key]
    steps = text.get("fix_flow", {}).get("step", {})
    description = (
        text.get("description")
        or (steps.get("confirm") or steps["init"])["description"]
    )
    placeholders = issue.translation_placeholders or {}
    assert set(re.findall(r"{(\w+)}", description)) <= set(placeholders)
    return str(description.format(**placeholders))


async def soc_shown(hass: HomeAssistant, value: str) -> None:
    sensor = entity_id(hass, "sensor", "state_of_charge")
    async with asyncio.timeout(5):
        while (state := hass.states.get(sensor)) is None or state.state != value:
            await asyncio.sleep(0.01)


def realtime(client: RecordedBattery, soc: str, second: int) -> dict[str, Any]:
    last = client.session["realtime"][-1]
    return dict(last, Time=f"2021/03/24 10:03:{second:02d}", SOC=soc)


async def test_the_returning_battery_is_shown_and_the_impostor_never_again(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    own: RecordedBattery = await battery()
    await own.replay()  # logs in with its password: pinned
    await hass.async_block_till_done()
    await own.close()  # a Wi-Fi drop
    coordinator = loaded_entry.runtime_data
    async with asyncio.timeout(5):
        while coordinator.server.connected_serials:
            await asyncio.sleep(0.01)

    impostor: RecordedBattery = await battery()
    await impostor.request(2, login("guessed"))
    await impostor.request(16, realtime(impostor, "11.0", 1))
    await soc_shown(hass, "11.0")  # the serial was free: it is heard meanwhile
    issue_id = f"{NEW_CREDENTIALS}_{loaded_entry.entry_id}_{SERIAL}"
    assert issue_id in our_issues(hass)

    back: RecordedBattery = await battery()
    await back.request(2, login("recorded-pw"))
    await back.request(16, realtime(back, "55.0", 2))
    await soc_shown(hass, "55.0")  # within one push
    assert await impostor.closed_by_server(timeout=2)
    for second in range(3, 6):
        again: RecordedBattery = await battery()
        await again.send_json(2, login("guessed"))
        await again.send_json(16, realtime(again, "12.0", second))
        assert await again.closed_by_server(timeout=2)
    await back.request(16, realtime(back, "56.0", 9))
    await soc_shown(hass, "56.0")
    sensor = entity_id(hass, "sensor", "state_of_charge")
    assert hass.states.get(sensor).state == "56.0"  # type: ignore[union-attr]
    assert "recorded-pw" not in caplog.text
    assert "guessed" not in caplog.text


async def test_new_credentials_after_a_stick_reset_go_through_the_repair(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    own: RecordedBattery = await battery()
    await own.replay()
    await own.close()
    coordinator = loaded_entry.runtime_data
    async with asyncio.timeout(5):
        while coordinator.server.connected_serials:
            await asyncio.sleep(0.01)
    reset: RecordedBattery = await battery()
    await reset.request(2, login("new-after-reset"))
    await hass.async_block_till_done()
    issue_id = f"{NEW_CREDENTIALS}_{loaded_entry.entry_id}_{SERIAL}"
    issue = our_issues(hass)[issue_id]
    text = rendered(issue)
    assert "AL90*********42" in text
    assert "127.0.0.1" in text
    assert SERIAL not in text

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "init"
    assert flow["menu_options"] == ["keep_first", "pin_new"]
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"next_step_id": "pin_new"}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)
    pins = coordinator.server.pins
    assert pins.check(SERIAL, SERIAL, "new-after-reset").name == "PROVEN"
    assert pins.check(SERIAL, SERIAL, "recorded-pw").name == "REFUSED"
    # Kept with the entry's state, as salted hashes only.
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()


async def test_keeping_the_first_login_is_answered_once(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    """The owner keeps the login pinned first; a second answer (another tab) is late.

    The new login's connection is closed and refused from then on; a flow still open
    after the question was answered, or after the entry was unloaded, changes nothing.
    """
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    own: RecordedBattery = await battery()
    await own.replay()
    await own.close()
    coordinator = loaded_entry.runtime_data
    async with asyncio.timeout(5):
        while coordinator.server.connected_serials:
            await asyncio.sleep(0.01)
    other: RecordedBattery = await battery()
    await other.request(2, login("not-the-owners"))
    await hass.async_block_till_done()
    issue_id = f"{NEW_CREDENTIALS}_{loaded_entry.entry_id}_{SERIAL}"
    assert issue_id in our_issues(hass)

    client = await hass_client()
    flows = []
    for _ in range(3):  # three tabs on the same repair
        response = await client.post(
            "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
        )
        flows.append((await response.json())["flow_id"])

    async def choose(flow_id: str, step: str) -> dict[str, Any]:
        response = await client.post(
            f"/api/repairs/issues/fix/{flow_id}", json={"next_step_id": step}
        )
        result: dict[str, Any] = await response.json()
        return result

    assert (await choose(flows[0], "keep_first"))["type"] == "create_entry"
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)
    assert await other.closed_by_server(timeout=5)
    pins = coordinator.server.pins
    assert pins.check(SERIAL, SERIAL, "recorded-pw").name == "PROVEN"
    assert pins.check(SERIAL, SERIAL, "not-the-owners").name == "REFUSED"

    late = await choose(flows[1], "pin_new")
    assert (late["type"], late["reason"]) == ("abort", "credentials_gone")
    assert pins.check(SERIAL, SERIAL, "not-the-owners").name == "REFUSED"

    await hass.config_entries.async_unload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    gone = await choose(flows[2], "pin_new")
    assert (gone["type"], gone["reason"]) == ("abort", "entry_removed")


async def battery_from(port: int, source: str) -> RecordedBattery:
    """A recorded battery's payloads, sent from ``source`` (a 127.x.y.z address)."""
    reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
    client = RecordedBattery(reader, writer)
    client.session = load_session()
    return client


def detail(client: RecordedBattery, pv_total: float, second: int) -> dict[str, Any]:
    """The recorded detailed record, later and with another lifetime PV total."""
    record = client.session["detail"]
    return dict(record, Time=f"2021/03/24 10:04:{second:02d}", EpvTotal=str(pv_total))


async def test_a_first_login_forgery_is_the_owners_to_undo(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A device logged in with the battery's serial before the battery ever did.

    When the battery comes, a repair names both logins (address, first and last
    seen, which was pinned first and which is new); the battery's readings move no
    lifetime totals meanwhile; the owner's choice pins the battery's login, its
    totals count from then on, and the forger is refused (issue #28).
    """
    assert await async_setup_component(hass, REPAIRS_DOMAIN, {})
    port = loaded_entry.data[CONF_PORT]
    coordinator = loaded_entry.runtime_data
    forger_at, battery_at = "127.0.9.66", "127.0.9.5"
    forger = await battery_from(port, forger_at)
    await forger.request(2, login("forged"))
    await forger.request(5, detail(forger, 433.0, 1))
    await hass.async_block_till_done()
    state = coordinator.data[SERIAL]
    assert state.energy["pv"] == 433.0
    await forger.close()
    async with asyncio.timeout(5):
        while coordinator.server.connected_serials:
            await asyncio.sleep(0.01)

    battery = await battery_from(port, battery_at)
    await battery.request(2, login("recorded-pw"))
    await battery.request(5, detail(battery, 433.5, 2))
    await hass.async_block_till_done()
    assert state.detail is not None
    assert state.detail.epv_total == 433.5  # shown ...
    assert state.energy["pv"] == 433.0  # ... but no total moved
    session = battery.session
    rows = "\n".join([session["csv_header"], *session["history_rows"][:3]])
    await battery.request(12, rows)
    await hass.async_block_till_done()
    assert state.counters["rows_unpinned"] == 3  # nor any history filed
    issue_id = f"{NEW_CREDENTIALS}_{loaded_entry.entry_id}_{SERIAL}"
    text = rendered(our_issues(hass)[issue_id])
    assert f"**The login pinned first**: from {forger_at}, first seen 20" in text
    assert f"**The new login**: from {battery_at}, first seen 20" in text
    assert SERIAL not in text

    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["type"] == "menu"
    assert flow["description_placeholders"]["first_address"] == forger_at
    response = await client.post(
        f"/api/repairs/issues/fix/{flow['flow_id']}", json={"next_step_id": "pin_new"}
    )
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)

    await battery.request(5, detail(battery, 434.0, 3))
    await hass.async_block_till_done()
    assert state.energy["pv"] == 434.0  # the chosen login's totals count
    again = await battery_from(port, forger_at)
    await again.send_json(2, login("forged"))
    assert await again.closed_by_server(timeout=2)
    for client_ in (battery, again):
        await client_.close()
    assert "forged" not in caplog.text
    assert "recorded-pw" not in caplog.text
    assert "newcomer" not in caplog.text


@pytest.mark.parametrize(
    ("kind", "speak"),
    [
        (ForeignKind.TLS, None),
        (ForeignKind.MQTT, MQTT_CONNECT),
        (ForeignKind.HTTP, HTTP_GET),
    ],
)
async def test_a_device_speaking_another_protocol_gets_its_repair(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    kind: ForeignKind,
    speak: bytes | None,
) -> None:
    port = loaded_entry.data[CONF_PORT]
    if speak is None:
        await tls_hello(port)
    else:
        client = await RawClient.connect(port)
        await client.send(speak)
        assert await client.closed_by_server(timeout=1)
        await client.close()
    await hass.async_block_till_done()
    # A client that checks certificates refuses the one we answer TLS with.
    key = TLS_REFUSED if kind is ForeignKind.TLS else foreign_issue_key(kind)
    issue_id = f"{key}_{loaded_entry.entry_id}"
    async with asyncio.timeout(5):
        while issue_id not in our_issues(hass):
            await asyncio.sleep(0.01)
    text = rendered(our_issues(hass)[issue_id])
    assert "A device at 127.0.0.1" in text
    if kind is ForeignKind.TLS:
        assert "encrypted (TLS) connection to www.alphaess.com" in text
        assert "Modbus TCP" in text
    assert SERIAL not in text  # MQTT's client id is the serial: masked
    # A battery delivering data clears it.
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)


async def test_a_thousand_client_hellos_make_one_repair_and_few_lines(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    port = loaded_entry.data[CONF_PORT]
    hello = await recorded_client_hello()
    created: list[str] = []
    hass.bus.async_listen(
        ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED,
        lambda event: created.append(event.data["action"]),
    )

    async def one() -> None:
        _, writer = await asyncio.open_connection(HOST, port)
        writer.write(hello)
        await writer.drain()
        writer.close()

    for _ in range(100):
        await asyncio.gather(*(one() for _ in range(10)))
    # Each client left right after sending, so any answered refused our certificate
    # (the door let the first ones in, and refused the rest).
    last = await RawClient.connect(port)
    await last.send(hello)
    assert await last.closed_by_server(timeout=15)
    await last.close()
    async with asyncio.timeout(10):
        while not [i for i in our_issues(hass) if i.startswith(TLS_REFUSED)]:
            await asyncio.sleep(0.01)
    await hass.async_block_till_done()
    issues = [i for i in our_issues(hass) if i.startswith(TLS_REFUSED)]
    assert len(issues) == 1
    assert created.count("create") == 1
    assert created.count("update") == 0
    ours = [r for r in caplog.records if r.name.startswith("custom_components")]
    assert len(ours) < 10
    # Nothing grows with the count: the log keeps 20, one report per address and
    # protocol is remembered, and no connection is left open.
    server = loaded_entry.runtime_data.server
    assert len(server.connections.recent) == 20
    assert len(server._foreign_reported) == 1
    async with asyncio.timeout(5):
        while server.connection_count:
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("story", "key"),
    [("nothing", NO_BATTERY), ("tls", f"{NO_BATTERY}_foreign")],
)
async def test_the_no_battery_repair_says_which_story_it_is(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, story: str, key: str
) -> None:
    if story == "tls":
        await tls_hello(loaded_entry.data[CONF_PORT])
        await hass.async_block_till_done()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issue = our_issues(hass)[f"{NO_BATTERY}_{loaded_entry.entry_id}"]
    assert issue.translation_key == key
    text = rendered(issue)
    if story == "nothing":
        assert "destination NAT" in text
    else:
        assert "Your DNS override works" in text


async def test_the_no_battery_repair_names_a_refused_battery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    async_update_options(hass, loaded_entry, {CONF_ALLOWLIST: ["AL2000000000002"]})
    await hass.async_block_till_done()
    own: RecordedBattery = await battery()
    await own.send_json(2, login("recorded-pw"))
    assert await own.closed_by_server(timeout=2)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    issue = our_issues(hass)[f"{NO_BATTERY}_{loaded_entry.entry_id}"]
    assert issue.translation_key == f"{NO_BATTERY}_refused"
    assert "was refused" in rendered(issue)


async def test_a_battery_refused_after_delivering_data_raises_a_repair_at_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    # The owner saves a list without the battery: the entry reloads, the link drops.
    async_update_options(hass, loaded_entry, {CONF_ALLOWLIST: ["AL2000000000002"]})
    await hass.async_block_till_done()
    again: RecordedBattery = await battery()
    await again.send_json(2, login("recorded-pw"))
    assert await again.closed_by_server(timeout=2)
    await hass.async_block_till_done()  # no time passes: within one push
    issue_id = f"{port_issues.BATTERY_REFUSED}_{loaded_entry.entry_id}_{SERIAL}"
    issue = our_issues(hass)[issue_id]
    assert issue.translation_key == "battery_refused_not_allowed"
    text = rendered(issue)
    assert "AL90*********42" in text
    assert (
        "**Accepted battery serial numbers** (the list holds AL20*********02)" in text
    )
    assert "127.0.0.1 at" in text
    # A stranger refused the same way raises nothing of the kind.
    stranger: RecordedBattery = await battery()
    await stranger.send_json(2, {**login("x"), "UserName": "AL3000000000003"})
    assert await stranger.closed_by_server(timeout=2)
    await hass.async_block_till_done()
    assert [i for i in our_issues(hass) if "AL3000000000003" in i] == []
    # The owner puts it back: once it delivers data again, the repair is gone.
    async_update_options(hass, loaded_entry, {CONF_ALLOWLIST: [SERIAL]})
    await hass.async_block_till_done()
    back: RecordedBattery = await battery()
    await back.replay()
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)


async def test_a_refused_battery_s_repair_clears_when_it_is_served(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    """Without a reload between: the same listener refuses it, then serves it."""
    server = loaded_entry.runtime_data.server
    issue_id = f"{port_issues.BATTERY_REFUSED}_{loaded_entry.entry_id}_{SERIAL}"
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    # While the battery is served, a device with its serial and another login is
    # refused: that is not the battery being refused.
    squatter: RecordedBattery = await battery()
    await squatter.send_json(2, login("other-pw"))
    assert await squatter.closed_by_server(timeout=2)
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)
    await own.close()
    async with asyncio.timeout(5):
        while server.connected_serials:
            await asyncio.sleep(0.01)
    # The battery's network stick was reset: a new login, which the owner refuses.
    reset: RecordedBattery = await battery()
    await reset.request(2, login("new-pw"))
    assert server.holders.choose_login(SERIAL, first=True, address=HOST)
    assert await reset.closed_by_server(timeout=2)
    again: RecordedBattery = await battery()
    await again.send_json(2, login("new-pw"))
    assert await again.closed_by_server(timeout=2)
    await hass.async_block_till_done()
    issue = our_issues(hass)[issue_id]
    assert issue.translation_key == "battery_refused_credentials_refused"
    assert "remove the battery's device" in rendered(issue)
    # Its old login comes back and delivers data: the repair goes.
    back: RecordedBattery = await battery()
    await back.replay()
    await hass.async_block_till_done()
    assert issue_id not in our_issues(hass)


async def test_the_ports_repairs_go_with_the_entry(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    await tls_hello(loaded_entry.data[CONF_PORT])
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=11))
    await hass.async_block_till_done()
    assert len(our_issues(hass)) == 2
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert our_issues(hass) == {}


def test_every_issue_the_port_can_raise_is_translated() -> None:
    keys = {foreign_issue_key(kind) for kind in ForeignKind}
    keys |= {NO_BATTERY, f"{NO_BATTERY}_foreign", f"{NO_BATTERY}_refused"}
    keys.add(NEW_CREDENTIALS)
    keys |= {port_issues.refused_issue_key(reason) for reason in Refusal}
    assert keys <= set(STRINGS["issues"])
