"""Encrypted connections: answered with the entry's certificate, each outcome told."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from homeassistant.const import CONF_PORT
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.alphaess_local.const import CONF_ANSWER_TLS, DOMAIN
from custom_components.alphaess_local.port_issues import TLS_REFUSED
from custom_components.alphaess_local.protocol import Spoke

from ..conftest import load_session
from ..protocol.conftest import HOST
from ..protocol.test_tls_answer import MQTT_CONNECT, MQTT_PUBLISH, trusting
from .conftest import SERIAL, RecordedBattery
from .test_port import our_issues, rendered, tls_hello
from .test_sensor import value


async def tls_battery(port: int) -> RecordedBattery:
    """A recorded battery whose firmware encrypts, and does not check certificates."""
    reader, writer = await asyncio.open_connection(
        HOST, port, ssl=trusting(), server_hostname="www.alphaess.com"
    )
    client = RecordedBattery(reader, writer)
    client.session = load_session()
    return client


async def wait_issue(hass: HomeAssistant, issue_id: str) -> None:
    async with asyncio.timeout(10):
        while issue_id not in our_issues(hass):
            await asyncio.sleep(0.01)


async def test_a_battery_that_accepts_our_certificate_appears(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
    hass_storage: dict[str, Any],
) -> None:
    client = await tls_battery(loaded_entry.data[CONF_PORT])
    try:
        await client.replay()
        await hass.async_block_till_done()
        assert float(value(hass, "charge_stop_soc")) == 100
        assert not [i for i in our_issues(hass) if "tls" in i or "foreign" in i]
        diagnostics = await get_diagnostics_for_config_entry(
            hass, hass_client, loaded_entry
        )
    finally:
        await client.close()
    battery = [
        r for r in diagnostics["connections"]["recent"] if r["spoke"] == Spoke.BATTERY
    ]
    assert battery[0]["tls"].startswith("TLS 1.")
    assert "SNI www.alphaess.com" in battery[0]["tls"]
    # The key stays in the entry's private store: never in diagnostics.
    stored = hass_storage[f"{DOMAIN}.{loaded_entry.entry_id}.tls"]["data"]
    assert stored["key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert "PRIVATE KEY" not in json.dumps(diagnostics)
    assert diagnostics["server"]["answers_tls"] is True


async def test_the_certificate_is_kept_across_restarts(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    key = f"{DOMAIN}.{loaded_entry.entry_id}.tls"
    first = hass_storage[key]["data"]["certificate"]
    assert await hass.config_entries.async_reload(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert hass_storage[key]["data"]["certificate"] == first
    await hass.config_entries.async_remove(loaded_entry.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_a_battery_that_checks_the_certificate_gets_its_repair(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    await tls_hello(loaded_entry.data[CONF_PORT])  # verifies: refuses ours
    issue_id = f"{TLS_REFUSED}_{loaded_entry.entry_id}"
    await wait_issue(hass, issue_id)
    text = rendered(our_issues(hass)[issue_id])
    assert "A device at 127.0.0.1" in text
    assert "the device refused it" in text
    assert "cannot be read locally" in text
    assert "Modbus TCP" in text
    assert "foreign_tls" not in "".join(our_issues(hass))


async def test_mqtt_inside_tls_gets_the_mqtt_repair_with_its_topics(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    reader, writer = await asyncio.open_connection(
        HOST,
        loaded_entry.data[CONF_PORT],
        ssl=trusting(),
        server_hostname="www.alphaess.com",
    )
    try:
        writer.write(MQTT_CONNECT)
        async with asyncio.timeout(10):
            assert await reader.readexactly(4) == b"\x20\x02\x00\x00"
        writer.write(MQTT_PUBLISH)
        issue_id = f"foreign_mqtt_{loaded_entry.entry_id}"
        await wait_issue(hass, issue_id)
    finally:
        writer.close()
        await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    text = rendered(our_issues(hass)[issue_id])
    assert "topics=alpha/AL90*********42/data" in text
    assert SERIAL not in text
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_entry
    )
    mqtt = [r for r in diagnostics["connections"]["recent"] if r["spoke"] == "mqtt"]
    assert "topics=alpha/AL90*********42/data" in mqtt[0]["detail"]
    assert "tls=read" in mqtt[0]["detail"]
    assert SERIAL not in json.dumps(diagnostics)


async def test_with_the_option_off_tls_is_closed_unanswered(
    hass: HomeAssistant, config_entry: MockConfigEntry, hass_storage: dict[str, Any]
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=config_entry.title,
        unique_id=config_entry.unique_id,
        data=dict(config_entry.data),
        options={CONF_ANSWER_TLS: False},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    try:
        await tls_hello(entry.data[CONF_PORT])
        issue_id = f"foreign_tls_{entry.entry_id}"
        await wait_issue(hass, issue_id)
        assert f"{DOMAIN}.{entry.entry_id}.tls" not in hass_storage
        assert entry.runtime_data.server.tls is None
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def test_a_damaged_stored_certificate_closes_tls_and_keeps_the_rest(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A storage file cut short (a full disk, a hand edit): the entry still loads."""
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    hass_storage[f"{DOMAIN}.{config_entry.entry_id}.tls"] = {
        "version": 1,
        "key": f"{DOMAIN}.{config_entry.entry_id}.tls",
        "data": {"certificate": "-----BEGIN CERTIFICATE-----\nMIID", "key": key},
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    try:
        assert config_entry.runtime_data.server.tls is None
        assert "Encrypted connections will be closed, not answered" in caplog.text
        ours = [
            r.getMessage()
            for r in caplog.records
            if r.name.startswith(f"custom_components.{DOMAIN}")
        ]
        assert ours
        assert not [line for line in ours if "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" in line]
        await tls_hello(config_entry.data[CONF_PORT])
        await wait_issue(hass, f"foreign_tls_{config_entry.entry_id}")
        client = RecordedBattery(
            *await asyncio.open_connection(HOST, config_entry.data[CONF_PORT])
        )
        client.session = load_session()
        try:
            await client.replay()
            await hass.async_block_till_done()
        finally:
            await client.close()
        assert float(value(hass, "charge_stop_soc")) == 100
    finally:
        await hass.config_entries.async_unload(config_entry.entry_id)
        await hass.async_block_till_done()
