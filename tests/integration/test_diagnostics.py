"""Diagnostics tell what we know without the owner's personal data."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import datetime
import json
import re
from typing import Any

from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local.cloud_source import CONNECTION_LOGS
from custom_components.alphaess_local.const import CONF_ALLOWLIST
from custom_components.alphaess_local.reload import async_update_options

from ..protocol.conftest import RawClient
from .conftest import SERIAL, RecordedBattery


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={
            "allowlist": [SERIAL],
            "dump_unknown_traffic": False,
            "unavailable_after": 5,
        },
    )
    await hass.async_block_till_done()
    client: RecordedBattery = await battery()
    await client.replay()
    await client.request(99, b'{"SN":"AL9002021030042","Mystery":"1"}')
    await client.request(5, b'{"broken')
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    text = json.dumps(diagnostics)
    for secret in (SERIAL, "1 Example Street", "X123", "123456", "recorded-pw"):
        assert secret not in text, secret
    battery_diag = diagnostics["batteries"]["AL90*********42"]
    assert battery_diag["counters"] == {"frames": 10, "unknown": 1, "undecodable": 1}
    assert battery_diag["report"]["address"] == "**REDACTED**"
    assert battery_diag["report"]["battery_model"] == "Smile-BAT-10.1P"
    assert battery_diag["detail"]["epv_total"] == 433.0
    assert battery_diag["energy_totals"]["pv"] == 433.0
    assert diagnostics["entry"]["options"]["allowlist"] == ["AL90*********42"]
    assert diagnostics["server"]["open_connections"] == 1


async def test_diagnostics_connection_log(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    snapshot: SnapshotAssertion,
) -> None:
    """Who was on the port, newest first: pinned by a snapshot.

    What depends on the run (times, the peers' source ports) is checked, then
    replaced; the rest is what an owner sends with a bug report.
    """
    port = loaded_entry.data[CONF_PORT]
    web = await RawClient.connect(port)
    await web.send(b"GET /x HTTP/1.1\r\nHost: www.alphaess.com\r\n\r\n")
    assert await web.closed_by_server(timeout=2)
    await web.close()
    junk = await RawClient.connect(port)
    await junk.send(b"\x01\x07not a frame at all" * 3)
    await junk.close()
    client: RecordedBattery = await battery()
    await client.replay()
    stranger: RecordedBattery = await battery()
    await stranger.send_json(16, {"SN": SERIAL, "Time": "2021/03/24 10:09:00"})
    assert await stranger.closed_by_server(timeout=2)
    await hass.async_block_till_done()
    log = loaded_entry.runtime_data.server.connections
    async with asyncio.timeout(5):
        while sum(log.counts.values()) < 3:
            await asyncio.sleep(0.01)

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    connections = diagnostics["connections"]
    for entry in connections["recent"]:
        host, _, source_port = entry["peer"].rpartition(":")
        assert host == "127.0.0.1"
        assert source_port.isdigit()
        entry["peer"] = "127.0.0.1:<port>"
        if entry["detail"]:
            entry["detail"] = re.sub(
                r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", entry["detail"]
            )
        assert datetime.fromisoformat(entry["opened_at"])
        entry["opened_at"] = "<time>"
        if entry["ended_at"] is not None:
            assert datetime.fromisoformat(entry["ended_at"])
            entry["ended_at"] = "<time>"
    assert SERIAL not in json.dumps(connections)
    assert diagnostics["batteries"]["AL90*********42"]["credentials_pinned"] is True
    assert connections == snapshot(extension_class=HomeAssistantSnapshotExtension)


async def test_the_connection_log_survives_an_options_reload(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
) -> None:
    """Saving options to fix a refusal keeps the evidence (issue #31).

    The owner types one digit wrong: the battery served before the reload is refused
    after it, and the refusal's line shows where the entry differs.
    """
    client: RecordedBattery = await battery()
    await client.replay()
    before = loaded_entry.runtime_data.server
    typo = SERIAL[:11] + "8" + SERIAL[12:]
    assert async_update_options(
        hass, loaded_entry, {**loaded_entry.options, CONF_ALLOWLIST: [typo]}
    )
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.server is not before
    assert await client.closed_by_server(timeout=2)
    again: RecordedBattery = await battery()
    await again.send_json(16, {"SN": SERIAL, "Time": "2021/03/24 10:09:00"})
    assert await again.closed_by_server(timeout=2)
    log = loaded_entry.runtime_data.server.connections
    async with asyncio.timeout(5):
        while sum(log.counts.values()) < 2:
            await asyncio.sleep(0.01)

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    connections = diagnostics["connections"]
    said = [(line["spoke"], line["detail"]) for line in connections["recent"]]
    assert said == [
        (
            "refused",
            "battery AL90*********42 refused: not on the allowlist "
            "(closest entry: AL90*********42, differs at character 12)",
        ),
        ("battery", "battery AL90*********42 served"),
    ]
    listed = Counter(spoke for spoke, _ in said)
    assert connections["counts"] == {
        kind: listed[kind] for kind in connections["counts"]
    }
    assert sum(connections["earlier"].values()) == 0
    text = json.dumps(connections)
    assert SERIAL not in text
    assert typo not in text

    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert loaded_entry.entry_id not in hass.data.get(CONNECTION_LOGS, {})
