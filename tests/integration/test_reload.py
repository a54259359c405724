"""Options, reconfigure and the new-battery repair each reload the entry exactly once.

Home Assistant rejects an update listener beside a flow that reloads by itself from
2026.12 (two reloads); the entry has none, so each path must ask for its own reload,
on 2025.4 (no ``OptionsFlowWithReload``) as on the newest release. The counts are of
real setups of the entry: its listener is closed and bound again each time.
"""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

import custom_components.alphaess_local as integration
from custom_components.alphaess_local.admission import new_battery_issue_id
from custom_components.alphaess_local.const import (
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    DOMAIN,
)
from custom_components.alphaess_local.reload import async_update_options

from ..protocol.conftest import HOST
from .conftest import SERIAL, free_port, usage_reports
from .test_admission import SECOND, realtime_of

# The options as this version stores them (0.6.0 added answer_tls: an entry saved
# before it reloads once, on its first options save, to take the new option).
OPTIONS = {
    CONF_ALLOWLIST: [],
    CONF_DUMP: False,
    CONF_UNAVAILABLE_AFTER: 5,
    CONF_ALLOW_CONTROL: False,
    "answer_tls": True,
    "relay": False,
}


@pytest.fixture
def setups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Entry ids, one per real setup of an entry of this integration."""
    calls: list[str] = []
    setup = integration.async_setup_entry

    async def counting(hass: HomeAssistant, entry: Any) -> bool:
        calls.append(entry.entry_id)
        return await setup(hass, entry)

    monkeypatch.setattr(integration, "async_setup_entry", counting)
    return calls


async def test_the_entry_has_no_update_listener(
    loaded_entry: MockConfigEntry,
) -> None:
    assert loaded_entry.update_listeners == []


async def test_options_reload_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, setups: list[str]
) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**OPTIONS, CONF_UNAVAILABLE_AFTER: 15}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert setups == [loaded_entry.entry_id]
    assert loaded_entry.state is ConfigEntryState.LOADED
    assert loaded_entry.runtime_data.unavailable_after == 15 * 60


async def test_unchanged_options_do_not_reload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, setups: list[str]
) -> None:
    hass.config_entries.async_update_entry(loaded_entry, options=OPTIONS)
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], OPTIONS
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert setups == []


async def test_reconfigure_reloads_once(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, setups: list[str]
) -> None:
    new_port = free_port()
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: new_port}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setups == [loaded_entry.entry_id]
    assert loaded_entry.runtime_data.server.port == new_port


async def test_reconfigure_to_the_same_address_does_not_reload(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, setups: list[str]
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: loaded_entry.data[CONF_PORT]}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert setups == []


async def test_the_new_battery_repair_reloads_once(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    hass_client: ClientSessionGenerator,
    setups: list[str],
) -> None:
    first = await battery()
    await first.replay()
    second = await battery()
    await second.send(realtime_of(second, SECOND))
    assert await second.closed_by_server()
    await hass.async_block_till_done()

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    issue_id = new_battery_issue_id(loaded_entry.entry_id, SECOND)
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert setups == [loaded_entry.entry_id]
    assert loaded_entry.options[CONF_ALLOWLIST] == [SERIAL, SECOND]
    assert loaded_entry.runtime_data.server.allowlist == {SERIAL, SECOND}


async def test_changing_options_of_a_stopped_entry_only_stores_them(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, setups: list[str]
) -> None:
    await hass.config_entries.async_unload(loaded_entry.entry_id)
    assert async_update_options(hass, loaded_entry, {**OPTIONS, CONF_DUMP: True})
    await hass.async_block_till_done()
    assert setups == []
    assert loaded_entry.state is ConfigEntryState.NOT_LOADED
    assert loaded_entry.options[CONF_DUMP] is True


def test_usage_reports_are_recognised() -> None:
    """The guard in conftest would catch the report 2026.10 logs for a listener."""
    record = logging.LogRecord(
        "homeassistant.helpers.frame",
        logging.WARNING,
        __file__,
        1,
        "Detected that custom integration 'alphaess_local' has an update listener"
        " and should use it for scheduling a reload",
        None,
        None,
    )
    assert usage_reports([record]) != []
