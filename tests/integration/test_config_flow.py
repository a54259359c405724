"""Config, options and reconfigure flows, binding real loopback ports."""

from __future__ import annotations

import ast
from collections.abc import Callable
import json
from pathlib import Path
import socket
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local import config_flow
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
from .conftest import SERIAL, RecordedBattery, free_port

UNROUTABLE = "203.0.113.7"  # TEST-NET-3: never an address of this host
# A custom integration's flows are shown with translations/en.json; a key missing
# there reaches the user raw (e.g. "already_in_progress").
TRANSLATIONS = json.loads(
    (Path(config_flow.__file__).parent / "translations" / "en.json").read_text()
)
CONFIG_STRINGS = TRANSLATIONS["config"]


def assert_translated(result: Any, errors: dict[str, str] | None = None) -> None:
    """The abort reason or form errors of ``result`` have English text."""
    if result.get("type") is FlowResultType.ABORT:
        assert result["reason"] in CONFIG_STRINGS["abort"], result["reason"]
    for error in (result.get("errors") or {}).values():
        assert error in (errors or CONFIG_STRINGS["error"]), error


async def start_cloud_flow(hass: HomeAssistant) -> Any:
    """Start a config flow and choose to listen (the menu's first way)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    assert result["menu_options"] == ["cloud", "modbus"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "cloud"}
    )


async def test_user_flow_creates_entry(hass: HomeAssistant, port: int) -> None:
    result = await start_cloud_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "cloud"
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
    result = await start_cloud_flow(hass)
    with socket.socket() as squatter:
        squatter.bind((HOST, port))
        squatter.listen()
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
        )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "port_in_use"}
    assert_translated(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await hass.config_entries.async_unload(result["result"].entry_id)


async def test_user_flow_address_not_on_this_host(
    hass: HomeAssistant, port: int
) -> None:
    result = await start_cloud_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: UNROUTABLE, CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_listen"}
    assert_translated(result)


async def test_user_flow_one_entry_per_port(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await start_cloud_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: config_entry.data[CONF_PORT]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_translated(result)


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
        "answer_tls": True,  # on unless turned off (tls_store.py)
        "relay": False,
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
    assert_translated(result)
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
    assert_translated(result)
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
    assert_translated(result)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: 17000}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert_translated(result)


async def test_second_flow_for_a_port_after_a_port_in_use_error(
    hass: HomeAssistant, port: int
) -> None:
    """A flow left open at "port in use" does not hold the port against a new one."""
    first = await start_cloud_flow(hass)
    second = await start_cloud_flow(hass)
    with socket.socket() as squatter:
        squatter.bind((HOST, port))
        squatter.listen()
        first = await hass.config_entries.flow.async_configure(
            first["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
        )
        assert first["type"] is FlowResultType.FORM
        assert first["errors"] == {"base": "port_in_use"}
        second = await hass.config_entries.flow.async_configure(
            second["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
        )
    assert_translated(second)
    assert second["type"] is FlowResultType.FORM
    assert second["errors"] == {"base": "port_in_use"}
    # The port is free now: the second flow gets it, the first learns it is taken.
    second = await hass.config_entries.flow.async_configure(
        second["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
    )
    assert second["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    first = await hass.config_entries.flow.async_configure(
        first["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
    )
    assert first["type"] is FlowResultType.ABORT
    assert first["reason"] == "already_configured"
    assert_translated(first)
    await hass.config_entries.async_unload(second["result"].entry_id)


async def test_flow_for_a_port_another_flow_claimed_aborts_translated(
    hass: HomeAssistant, port: int
) -> None:
    # A flow that claimed the port and has not finished yet.
    await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER, "unique_id": str(port)}
    )
    result = await start_cloud_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"
    assert_translated(result)


# Flow helpers of Home Assistant and the reason they abort with.
IMPLIED_ABORTS = {
    "_abort_if_unique_id_configured": "already_configured",
    "_async_abort_entries_match": "already_configured",
    "async_set_unique_id": "already_in_progress",
    "async_update_reload_and_abort": "reconfigure_successful",
}


def _flow_outcomes() -> tuple[set[str], set[str]]:
    """Every abort reason and form error config_flow.py can produce, from its source.

    Errors are the strings the ``*_error`` probes return or ``errors[...]`` is given;
    aborts are explicit reasons and those the Home Assistant helpers it calls imply.
    """
    tree = ast.parse(Path(config_flow.__file__).read_text())
    errors: set[str] = set()
    aborts: set[str] = set()

    def strings(node: ast.AST) -> set[str]:
        return {
            n.value
            for n in ast.walk(node)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }

    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef) and (
            node.name.endswith("_error")
        ):
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    errors |= strings(ret.value)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Subscript)
            and isinstance(t.value, ast.Name)
            and t.value.id == "errors"
            for t in node.targets
        ):
            errors |= strings(node.value)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in {"async_abort", "AbortFlow"}:
                aborts |= {
                    k.value.value
                    for k in node.keywords
                    if k.arg == "reason" and isinstance(k.value, ast.Constant)
                }
                if node.args and isinstance(node.args[0], ast.Constant):
                    aborts.add(node.args[0].value)
            quiet = any(
                k.arg == "raise_on_progress"
                and isinstance(k.value, ast.Constant)
                and k.value.value is False
                for k in node.keywords
            )
            if name in IMPLIED_ABORTS and not quiet:
                aborts.add(IMPLIED_ABORTS[name])
    return errors, aborts


def test_every_flow_outcome_is_translated() -> None:
    errors, aborts = _flow_outcomes()
    # The scan finds what the flow is known to produce.
    assert {"port_in_use", "cannot_listen"} <= errors
    assert {"already_configured", "already_in_progress"} <= aborts
    # Errors of the options flow's relay step live with the options' strings.
    known = set(CONFIG_STRINGS["error"]) | set(TRANSLATIONS["options"]["error"])
    assert errors <= known, errors - known
    assert aborts <= set(CONFIG_STRINGS["abort"]), aborts - set(CONFIG_STRINGS["abort"])


# What the owner may type into the accepted serial numbers, and what each leads to
# while the recorded battery (AL9002021030042) is connected and delivering data. The
# lists that save (and reload the entry, dropping the battery's link) come last.
ALLOWLIST_TYPED = {
    "a character no serial has": ["AL9002021030042!"],
    "too short": ["AL90"],
    "a digit wrong": ["AL9002021030043"],
    "lower case": ["al9002021030042"],
    "spaces and dashes from a label": [" AL90 0202-1030 042 "],
    "two in one field": ["AL9002021030042, al2000000000002"],
}


async def allowlist_outcome(
    hass: HomeAssistant, entry: MockConfigEntry, typed: list[str]
) -> dict[str, Any]:
    """The form's answer to ``typed``: what it saved, or what it shows."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_ALLOWLIST: typed, CONF_DUMP: False, CONF_UNAVAILABLE_AFTER: 5},
    )
    if result["type"] is FlowResultType.CREATE_ENTRY:
        await hass.async_block_till_done()
        saved: dict[str, Any] = {"saved": entry.options[CONF_ALLOWLIST]}
        return saved
    hass.config_entries.options.async_abort(result["flow_id"])
    return {
        "step_id": result["step_id"],
        "errors": result["errors"],
        "description_placeholders": result["description_placeholders"],
    }


async def test_allowlist_form_normalises_refuses_and_warns(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    snapshot: SnapshotAssertion,
) -> None:
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    outcomes = {
        case: await allowlist_outcome(hass, loaded_entry, typed)
        for case, typed in ALLOWLIST_TYPED.items()
    }
    assert outcomes == snapshot.use_extension(HomeAssistantSnapshotExtension)
    for outcome in outcomes.values():
        assert_translated(outcome, TRANSLATIONS["options"]["error"])


async def test_a_typo_is_saved_only_once_the_owner_confirms(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_ALLOWLIST: ["AL9002021030043"],
            CONF_DUMP: False,
            CONF_UNAVAILABLE_AFTER: 5,
        },
    )
    assert result["step_id"] == "allowlist"
    assert result["description_placeholders"]["connected"] == "AL90*********42"
    # Corrected to one that still leaves the battery out and is not a serial: asked.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ALLOWLIST: ["AL9002021030043", "x"]}
    )
    assert result["step_id"] == "allowlist"
    assert result["errors"] == {CONF_ALLOWLIST: "invalid_serial"}
    # Saved as it is: the owner confirmed.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_ALLOWLIST: ["al9002021030043"]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options[CONF_ALLOWLIST] == ["AL9002021030043"]


async def test_a_lower_case_serial_is_stored_upper_case_and_keeps_the_battery(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, battery: Callable[[], Any]
) -> None:
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_ALLOWLIST: [SERIAL.lower()], CONF_DUMP: False, CONF_UNAVAILABLE_AFTER: 5},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert loaded_entry.options[CONF_ALLOWLIST] == [SERIAL]
    await hass.async_block_till_done()  # the entry reloads: connections drop
    assert loaded_entry.runtime_data.server.allowlist == {SERIAL}
    # The battery reconnects, as it does after every reload, and is served.
    again: RecordedBattery = await battery()
    await again.replay()
    await hass.async_block_till_done()
    assert loaded_entry.runtime_data.server.connected_serials == {SERIAL}
    assert not await again.closed_by_server(timeout=0.2)


async def options_description(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    """The options form's description as the owner reads it."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    hass.config_entries.options.async_abort(result["flow_id"])
    template: str = TRANSLATIONS["options"]["step"]["init"]["description"]
    placeholders = result["description_placeholders"]
    return template.format(**placeholders)


async def test_options_form_says_which_battery_is_accepted(
    hass: HomeAssistant,
    loaded_entry: MockConfigEntry,
    battery: Callable[[], Any],
    snapshot: SnapshotAssertion,
) -> None:
    """The first-battery rule accepts without listing: the form names that battery."""
    shown = {"no battery yet": await options_description(hass, loaded_entry)}
    own: RecordedBattery = await battery()
    await own.replay()
    await hass.async_block_till_done()
    shown["first battery connected"] = await options_description(hass, loaded_entry)
    assert SERIAL not in shown["first battery connected"]
    hass.config_entries.async_update_entry(
        loaded_entry,
        options={**loaded_entry.options, CONF_ALLOWLIST: [SERIAL, "AL2000000000002"]},
    )
    shown["serials listed"] = await options_description(hass, loaded_entry)
    assert shown == snapshot.use_extension(HomeAssistantSnapshotExtension)
