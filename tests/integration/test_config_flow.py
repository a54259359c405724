"""Config, options and reconfigure flows, binding real loopback ports."""

from __future__ import annotations

import socket

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.alphaess_local.const import (
    CONF_ALLOW_CONTROL,
    CONF_ALLOWLIST,
    CONF_DUMP,
    CONF_UNAVAILABLE_AFTER,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DOMAIN,
)

from ..protocol.conftest import HOST
from .conftest import free_port

UNROUTABLE = "203.0.113.7"  # TEST-NET-3: never an address of this host


async def test_user_flow_creates_entry(hass: HomeAssistant, port: int) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    schema = result["data_schema"]
    assert schema is not None
    defaults = {str(k): k.default() for k in schema.schema}
    assert defaults == {CONF_HOST: DEFAULT_HOST, CONF_PORT: DEFAULT_PORT}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f" {HOST} ", CONF_PORT: float(port)}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"AlphaESS Local (port {port})"
    assert result["data"] == {CONF_HOST: HOST, CONF_PORT: port}
    assert result["result"].unique_id == str(port)
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    await hass.config_entries.async_unload(entry.entry_id)


async def test_user_flow_port_in_use_then_recovers(
    hass: HomeAssistant, port: int
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    with socket.socket() as squatter:
        squatter.bind((HOST, port))
        squatter.listen()
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "port_in_use"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_user_flow_address_not_on_this_host(
    hass: HomeAssistant, port: int
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: UNROUTABLE, CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_listen"}


async def test_user_flow_one_entry_per_port(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: config_entry.data[CONF_PORT]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_flow(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "init"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_ALLOWLIST: [" AL9002021030042 ", ""],
            CONF_DUMP: True,
            CONF_UNAVAILABLE_AFTER: 15.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options == {
        CONF_ALLOWLIST: ["AL9002021030042"],
        CONF_DUMP: True,
        CONF_UNAVAILABLE_AFTER: 15,
        CONF_ALLOW_CONTROL: False,
    }
    await hass.async_block_till_done()
    coordinator = loaded_entry.runtime_data
    assert coordinator.unavailable_after == 15 * 60
    assert coordinator.server.allowlist == {"AL9002021030042"}
    assert coordinator.server.dump is not None
    assert coordinator.server.dump.path.name == "alphaess_local_unknown_traffic.jsonl"
    # The form shows what is stored.
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    schema = result["data_schema"]
    assert schema is not None
    assert {str(k): k.default() for k in schema.schema}[CONF_UNAVAILABLE_AFTER] == 15


async def test_reconfigure_moves_the_listener(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    new_port = free_port()
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: new_port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_entry.data[CONF_PORT] == new_port
    assert loaded_entry.unique_id == str(new_port)
    assert loaded_entry.title == f"AlphaESS Local (port {new_port})"
    assert loaded_entry.runtime_data.server.port == new_port


async def test_reconfigure_same_address_needs_no_probe(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    result = await loaded_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: loaded_entry.data[CONF_PORT]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()


async def test_reconfigure_refuses_busy_or_taken_ports(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    other = MockConfigEntry(
        domain=DOMAIN, unique_id="17000", data={CONF_HOST: HOST, CONF_PORT: 17000}
    )
    other.add_to_hass(hass)
    result = await loaded_entry.start_reconfigure_flow(hass)
    busy_port = free_port()
    with socket.socket() as squatter:
        squatter.bind((HOST, busy_port))
        squatter.listen()
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: HOST, CONF_PORT: busy_port}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "port_in_use"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: 17000}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
