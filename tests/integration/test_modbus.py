"""An entry that reads the inverter over Modbus TCP, against a real Modbus server.

The simulated inverter (``protocol/simulator/modbus_server.py``) serves its model's
registers from pymodbus's own TCP server on loopback; the entry's reader polls it as it
would a real inverter. Nothing of ours is mocked between the flow, the reader, the
register map, the coordinator and the entities.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
import json
import logging
from typing import Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
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
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion

from custom_components.alphaess_local import modbus_source
from custom_components.alphaess_local.battery import BatteryState
from custom_components.alphaess_local.const import (
    CONF_ALLOW_CONTROL,
    CONF_POLL_INTERVAL,
    CONF_SOURCE,
    CONF_UNIT,
    DOMAIN,
    SETTING_SETTLE,
    SOURCE_MODBUS,
)
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    RealtimeRecord,
)
from custom_components.alphaess_local.protocol.codec.messages import build_record
from custom_components.alphaess_local.protocol.modbus.registers import (
    CHARGE_HOURS,
    CHARGE_MINUTES,
    CHARGE_TOTAL,
    DISCHARGE_TOTAL,
    GRID_EXPORT_TOTAL,
    GRID_IMPORT_TOTAL,
)
from custom_components.alphaess_local.protocol.simulator.modbus_server import (
    SimulatedInverter,
)
from custom_components.alphaess_local.protocol.simulator.model import BatteryModel
from custom_components.alphaess_local.protocol.simulator.readings import (
    Identity,
    detail_values,
    realtime_values,
)
from custom_components.alphaess_local.sensor import (
    CLOUD_RECORDS_ONLY,
    SENSORS,
    shown_value,
)

from ..protocol.modbus_server import HOST, BatteryClock
from .conftest import device_of, free_port

MODBUS_SERIAL = Identity().serial
UNIT = 85
# Bounded waits: the reader polls every second here.
WAIT = 20.0


@pytest.fixture
def battery_clock() -> BatteryClock:
    """The inverter's clock on the host's (a month-old clock would raise a repair)."""
    return BatteryClock(dt_util.now().replace(tzinfo=None, microsecond=0))


@pytest.fixture
async def inverter(
    make_inverter: Callable[..., Any], battery_clock: BatteryClock
) -> SimulatedInverter:
    """The simulated inverter on a free loopback port, one client at a time.

    Its registers change only when the test says (``refresh``): what the entry
    reads is known.
    """
    simulated: SimulatedInverter = await make_inverter(clock=battery_clock)
    return simulated


@pytest.fixture
def quick_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    """A silent link counts as dead after half a second, not five.

    Only for the tests of silence: elsewhere a loaded machine could stall a request
    that long, and a link reset no test asked for would change what it counts.
    """
    monkeypatch.setattr(modbus_source, "REQUEST_TIMEOUT", 0.5)


def modbus_entry(inverter: SimulatedInverter, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"AlphaESS Modbus ({HOST})",
        unique_id=MODBUS_SERIAL,
        data={
            CONF_SOURCE: SOURCE_MODBUS,
            CONF_HOST: HOST,
            CONF_PORT: inverter.port,
            CONF_UNIT: UNIT,
        },
        options={CONF_POLL_INTERVAL: 1, **options},
    )


@pytest.fixture
async def loaded_modbus(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> AsyncGenerator[MockConfigEntry]:
    entry = modbus_entry(inverter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    if entry.state is ConfigEntryState.LOADED:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()


async def until(hass: HomeAssistant, check: Callable[[], bool]) -> None:
    """Let the reader poll until ``check`` holds (bounded)."""
    async with asyncio.timeout(WAIT):
        while not check():
            await asyncio.sleep(0.05)
            await hass.async_block_till_done()


def entity_id(hass: HomeAssistant, platform: str, key: str) -> str | None:
    return er.async_get(hass).async_get_entity_id(
        platform, DOMAIN, f"{MODBUS_SERIAL}_{key}"
    )


def state_of(hass: HomeAssistant, platform: str, key: str) -> str | None:
    found = entity_id(hass, platform, key)
    state = hass.states.get(found) if found else None
    return state.state if state else None


async def start_modbus_flow(hass: HomeAssistant) -> Any:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "modbus"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    return result


# --- the config flow ---------------------------------------------------------------


async def test_flow_reads_the_serial_and_creates_the_entry(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> None:
    result = await start_modbus_flow(hass)
    defaults = {str(k): k.default() for k in result["data_schema"].schema}
    assert defaults == {CONF_HOST: "", CONF_PORT: 502, CONF_UNIT: 85}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: f" {HOST} ", CONF_PORT: float(inverter.port), CONF_UNIT: 85.0},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == MODBUS_SERIAL
    assert result["data"] == {
        CONF_SOURCE: SOURCE_MODBUS,
        CONF_HOST: HOST,
        CONF_PORT: inverter.port,
        CONF_UNIT: 85,
    }
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # The inverter's one slot was let go after the serial was read: the entry reads.
    await until(hass, lambda: state_of(hass, "sensor", "state_of_charge") is not None)
    device = device_of(hass, entry.entry_id, MODBUS_SERIAL)
    assert device is not None
    await hass.config_entries.async_unload(entry.entry_id)


async def test_flow_errors_name_the_cause(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> None:
    result = await start_modbus_flow(hass)
    # Nothing listens there.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: free_port(), CONF_UNIT: 85}
    )
    assert result["type"] is FlowResultType.FORM
    # A refused connection: no Modbus TCP there, or another client (both said).
    assert result["errors"] == {"base": "refused"}
    # Another client holds the inverter's one slot.
    holder = await asyncio.open_connection(HOST, inverter.port)
    try:
        await until(hass, lambda: inverter.server.connections == 1)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: HOST, CONF_PORT: inverter.port, CONF_UNIT: 85},
        )
        assert result["errors"] == {"base": "slot_taken"}
    finally:
        holder[1].close()
        await holder[1].wait_closed()
    # A unit without an AlphaESS serial.
    inverter.server.overrides.update(dict.fromkeys(range(0x0743, 0x074B), 0))
    await inverter.server.refresh()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: inverter.port, CONF_UNIT: 85}
    )
    assert result["errors"] == {"base": "no_serial"}


async def test_a_serial_another_entry_has_aborts_naming_it(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> None:
    # A listener that has heard the battery (its device is in the registry).
    listener = MockConfigEntry(
        domain=DOMAIN,
        title="AlphaESS Local (port 7777)",
        unique_id="7777",
        data={CONF_HOST: HOST, CONF_PORT: 7777},
    )
    listener.add_to_hass(hass)
    dr.async_get(hass).async_get_or_create(
        config_entry_id=listener.entry_id, identifiers={(DOMAIN, MODBUS_SERIAL)}
    )
    result = await start_modbus_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: inverter.port, CONF_UNIT: 85}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "serial_configured"
    assert result["description_placeholders"]["title"] == "AlphaESS Local (port 7777)"

    # Another Modbus entry of the same inverter, made at another address (a gateway).
    await hass.config_entries.async_remove(listener.entry_id)
    other = MockConfigEntry(
        domain=DOMAIN,
        title="AlphaESS Modbus (gateway)",
        unique_id=MODBUS_SERIAL,
        data={
            CONF_SOURCE: SOURCE_MODBUS,
            CONF_HOST: "192.0.2.1",
            CONF_PORT: 502,
            CONF_UNIT: 85,
        },
    )
    other.add_to_hass(hass)
    result = await start_modbus_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: inverter.port, CONF_UNIT: 85}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "serial_configured"
    assert result["description_placeholders"]["title"] == other.title
    # An entry reading the same address holds the slot: no read, the entry is named.
    result = await start_modbus_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "192.0.2.1", CONF_PORT: 502, CONF_UNIT: 85}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "address_configured"
    assert result["description_placeholders"]["title"] == other.title


# --- the entry ---------------------------------------------------------------------

# Sensors whose value the cloud link and Modbus give alike for one model snapshot:
# every one a Modbus entry has and enables, but for the settings and the link's own
# (connected since, clock offset) and those of a disputed scale (below).
COMPARED = (
    "state_of_charge",
    "battery_power",
    "pv_power",
    "pv1_power",
    "pv2_power",
    "ac_pv_power",
    "grid_power",
    "inverter_power",
    "house_load",
    "grid_import_energy",
    "grid_export_energy",
    "battery_charge_energy",
    "battery_discharge_energy",
    "battery_grid_charge_energy",
    "pv1_voltage",
    "pv2_voltage",
    "battery_voltage",
    "grid_frequency",
    "cell_temperature_low",
    "cell_temperature_high",
    "bms_charge_limit",
    "bms_discharge_limit",
    "inverter_error",
    "inverter_warning",
    "bms_error",
)
# Scales the sources disagree on: unknown until three polls agree on one.
DISPUTED = ("inverter_temperature", "cell_voltage_low", "cell_voltage_high")
# The register map's decisions the simulated inverter's registers allow (the PV
# total's scale needs hours of sun).
DECIDED = {"grid_voltage", "cell_voltage", "inverter_temperature", "battery_current"}


def cloud_link_state(inverter: SimulatedInverter) -> BatteryState:
    """What the cloud link would show for the inverter's model at this moment."""
    sample = inverter.sample()
    cloud = BatteryState(MODBUS_SERIAL)
    now = dt_util.utcnow()
    cloud.apply_realtime(
        build_record(RealtimeRecord, realtime_values(sample, MODBUS_SERIAL)), now
    )
    cloud.apply_detail(
        build_record(DetailedRecord, detail_values(sample, MODBUS_SERIAL)), now
    )
    return cloud


def shown_and_expected(
    hass: HomeAssistant, cloud: BatteryState, keys: tuple[str, ...]
) -> tuple[dict[str, str | None], dict[str, str]]:
    shown: dict[str, str | None] = {}
    expected: dict[str, str] = {}
    for description in SENSORS:
        if description.key in keys:
            shown[description.key] = state_of(hass, "sensor", description.key)
            expected[description.key] = str(shown_value(description, cloud))
    return shown, expected


async def test_entities_show_what_the_registers_say(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
) -> None:
    await until(
        hass, lambda: state_of(hass, "sensor", "grid_import_energy") is not None
    )
    cloud = cloud_link_state(inverter)
    shown, expected = shown_and_expected(hass, cloud, COMPARED)
    assert shown == expected
    # What Modbus cannot feed is not there at all (the detailed record has come).
    assert loaded_modbus.runtime_data.data[MODBUS_SERIAL].detail is not None
    assert entity_id(hass, "event", "event_log") is None
    assert entity_id(hass, "binary_sensor", "cloud_relay") is None
    assert {
        key for key in CLOUD_RECORDS_ONLY if entity_id(hass, "sensor", key)
    } == set()

    # Three polls decide the disputed scales: the values are the cloud's.
    reader = loaded_modbus.runtime_data.source.reader
    await until(hass, lambda: set(reader.registers.decisions) >= DECIDED)
    await until(
        hass,
        lambda: all(
            state_of(hass, "sensor", key) != "unknown"
            for key in (*DISPUTED, "battery_current")
        ),
    )
    shown, expected = shown_and_expected(hass, cloud, DISPUTED)
    assert shown == expected
    # Rounded differently: grid voltage in whole volts in the register (1 V
    # decided), 0.1 V on the cloud; the battery current (its sign decided) to 0.1 A
    # from power over voltage, where the cloud rounds it to 0.01 A first.
    for key, attribute, step in (
        ("grid_voltage", "ua", 0.5),
        ("battery_current", "bat_c", 0.1),
    ):
        value = state_of(hass, "sensor", key)
        assert value is not None
        assert value != "unknown", key
        assert abs(float(value) - getattr(cloud.detail, attribute)) <= step + 1e-9


async def test_slot_taken_raises_the_repair_until_the_inverter_answers(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> None:
    holder = await asyncio.open_connection(HOST, inverter.port)
    entry = modbus_entry(inverter)
    entry.add_to_hass(hass)
    issue_id = f"modbus_slot_taken_{entry.entry_id}"
    issues = ir.async_get(hass)
    try:
        await until(hass, lambda: inverter.server.connections == 1)
        assert await hass.config_entries.async_setup(entry.entry_id)
        modbus_issues = entry.runtime_data.source.issues
        await until(hass, lambda: modbus_issues.slot_wait)
        # Not at once: the slot may be our own probe's, still held by the inverter.
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=2))
        await hass.async_block_till_done()
        assert issues.async_get_issue(DOMAIN, issue_id) is None
        async_fire_time_changed(
            hass, dt_util.utcnow() + timedelta(minutes=3, seconds=1)
        )
        await until(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
        issue = issues.async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.translation_key == "modbus_slot_taken"
        assert issue.translation_placeholders == {
            "title": entry.title,
            "address": f"{HOST}:{inverter.port}",
            "hours": "12",
        }
    finally:
        holder[1].close()
        await holder[1].wait_closed()
    # The other client let go: the reader gets in, and the repair goes.
    await until(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    await until(hass, lambda: state_of(hass, "sensor", "state_of_charge") is not None)
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.usefixtures("quick_silence")
async def test_a_silent_inverter_goes_unavailable_and_returns(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
    battery_clock: BatteryClock,
) -> None:
    await until(hass, lambda: state_of(hass, "sensor", "state_of_charge") is not None)
    assert state_of(hass, "binary_sensor", "connected") == "on"
    inverter.server.silent = True
    # The reader finds no answer within its request timeout and resets the link ...
    reader = loaded_modbus.runtime_data.source.reader
    failures = sum(block.failures for block in reader.stats.blocks.values())
    await until(
        hass,
        lambda: sum(block.failures for block in reader.stats.blocks.values())
        > failures,
    )
    # ... and the inverter stays silent for 10 minutes.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(minutes=10))
    await hass.async_block_till_done()
    assert state_of(hass, "sensor", "state_of_charge") == STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor", "connected") == "off"

    inverter.server.silent = False
    battery_clock.advance(10)
    await inverter.server.refresh()
    await until(
        hass, lambda: state_of(hass, "sensor", "state_of_charge") != STATE_UNAVAILABLE
    )
    assert state_of(hass, "binary_sensor", "connected") == "on"


async def test_nonsense_registers_are_held_back(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
    battery_clock: BatteryClock,
) -> None:
    await until(
        hass, lambda: state_of(hass, "sensor", "grid_import_energy") is not None
    )
    soc = state_of(hass, "sensor", "state_of_charge")
    grid_import = state_of(hass, "sensor", "grid_import_energy")
    coordinator = loaded_modbus.runtime_data.coordinator
    frames = coordinator.data[MODBUS_SERIAL].counters["frames"]
    # SOC reads 0xFFFF; the grid import total (0.01 kWh) jumps by a million kWh.
    image = inverter.server.image
    jumped = ((image[GRID_IMPORT_TOTAL] << 16) | image[GRID_IMPORT_TOTAL + 1]) + 10**8
    inverter.server.overrides.update(
        {
            0x0102: 0xFFFF,
            GRID_IMPORT_TOTAL: jumped >> 16,
            GRID_IMPORT_TOTAL + 1: jumped & 0xFFFF,
        }
    )
    battery_clock.advance(10)
    await inverter.server.refresh()
    # Two more polls (a realtime and a detailed record each) read the nonsense.
    await until(
        hass,
        lambda: coordinator.data[MODBUS_SERIAL].counters["frames"] >= frames + 4,
    )
    state = coordinator.data[MODBUS_SERIAL]
    assert state.detail is not None
    assert state.detail.e_input is not None
    assert state.detail.e_input > 10**6  # read as it is ...
    assert state_of(hass, "sensor", "grid_import_energy") == grid_import  # held back
    assert state.counters["energy_held"] >= 1
    assert state_of(hass, "sensor", "state_of_charge") in {soc, "unknown"}


async def test_options_poll_interval_says_its_cost(
    hass: HomeAssistant, loaded_modbus: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(loaded_modbus.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "modbus"
    assert [str(key) for key in result["data_schema"].schema] == [
        CONF_POLL_INTERVAL,
        CONF_ALLOW_CONTROL,  # the listener's opt-in, the same over Modbus
    ]
    placeholders = result["description_placeholders"]
    # As measured by benchmarks.recorder_rows --modbus (docs/performance.md).
    assert placeholders["rows_default"] == "43,000"
    assert placeholders["rows_fastest"] == "86,000"
    assert placeholders["rows_slowest"] == "9,000"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_POLL_INTERVAL: 5.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_modbus.options == {CONF_POLL_INTERVAL: 5, CONF_ALLOW_CONTROL: False}
    # Saved options reload the entry once: its reader polls at the new pace.
    assert loaded_modbus.state is ConfigEntryState.LOADED
    assert loaded_modbus.runtime_data.source.reader.interval == 5.0


async def test_reconfigure_takes_only_the_same_inverter(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
    battery_clock: BatteryClock,
) -> None:
    stranger = SimulatedInverter(
        BatteryModel(battery_clock()),
        identity=Identity(serial="AL7012345678901"),
        clock=battery_clock,
        host=HOST,
        port=free_port(),
    )
    await stranger.start()
    try:
        result = await loaded_modbus.start_reconfigure_flow(hass)
        assert result["step_id"] == "reconfigure_modbus"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: HOST, CONF_PORT: stranger.port, CONF_UNIT: 85},
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "another_inverter"
    finally:
        await stranger.close()
    # The entry's own reader holds the inverter's one slot: the same address is not
    # read again (it would find the slot taken, by us), a new unit ID is taken.
    result = await loaded_modbus.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: HOST, CONF_PORT: inverter.port, CONF_UNIT: 1}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_modbus.data[CONF_UNIT] == 1


async def test_switching_from_the_cloud_link_keeps_the_totals(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    inverter: SimulatedInverter,
) -> None:
    """The listener's entry removed, the Modbus one added: the totals never go down.

    The cloud's grid export total (500 kWh) is above what the inverter's register
    says (the model's 128.4 kWh: another scale, or another meter): the sensor keeps
    the cloud's value rather than dropping, which the Energy dashboard would read as
    a meter reset.
    """
    listener = MockConfigEntry(
        domain=DOMAIN,
        title="AlphaESS Local (port 7777)",
        unique_id="7777",
        data={CONF_HOST: HOST, CONF_PORT: 7777},
    )
    listener.add_to_hass(hass)
    accepted_at = (dt_util.utcnow() - timedelta(minutes=1)).isoformat()
    hass_storage[f"{DOMAIN}.{listener.entry_id}"] = {
        "version": 1,
        "key": f"{DOMAIN}.{listener.entry_id}",
        "data": {
            "batteries": {
                MODBUS_SERIAL: {
                    "energy": {"grid_export": 500.0, "grid_import": 1.0},
                    "energy_at": {
                        "grid_export": accepted_at,
                        "grid_import": accepted_at,
                    },
                }
            }
        },
    }
    await hass.config_entries.async_remove(listener.entry_id)
    await hass.async_block_till_done()

    entry = modbus_entry(inverter)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # The battery's totals are there from the start (taken over), its records not.
    state = entry.runtime_data.data[MODBUS_SERIAL]
    assert state.energy["grid_export"] == 500.0
    await until(hass, lambda: state.detail is not None)
    assert state.detail is not None
    assert state.detail.e_output is not None
    assert state.detail.e_output < 500.0  # the register says less ...
    assert state_of(hass, "sensor", "grid_export_energy") == "500.0"  # ... ignored
    # One far below the register's (60 kWh a minute later) is a rise no system can
    # produce: held back, as any jump is, until later reads confirm it.
    assert state.energy["grid_import"] == 1.0
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def _run_free(value: Any) -> Any:
    """Diagnostics with what depends on the run (counts, timings) made its type."""
    if isinstance(value, dict):
        return {key: _run_free(inner) for key, inner in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return f"<{type(value).__name__}>"
    return value


async def test_diagnostics_show_the_reads_and_mask_the_serial(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
    snapshot: SnapshotAssertion,
) -> None:
    # Three polls that agree decide the disputed scales the registers can tell.
    reader = loaded_modbus.runtime_data.source.reader
    await until(hass, lambda: set(reader.registers.decisions) >= DECIDED)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, loaded_modbus
    )
    assert MODBUS_SERIAL not in json.dumps(diagnostics)
    modbus = diagnostics["modbus"]
    assert modbus["port"] == inverter.port
    modbus["port"] = "<port>"
    diagnostics["entry"]["data"][CONF_PORT] = "<port>"
    live = {"grid", "pv_meter", "battery", "inverter"}
    assert live <= set(modbus["stats"]["blocks"])
    for name in live:
        block = modbus["stats"]["blocks"][name]
        assert block["reads"] >= 1
        assert block["mean_ms"] is not None
    assert modbus["stats"]["last_poll_requests"] <= 4
    # The scale decided, without the numbers that made it (the model's of the hour).
    modbus["scale_decisions"] = {
        key: why.split(" (")[0] for key, why in modbus["scale_decisions"].items()
    }
    assert modbus["stats"]["pymodbus"].startswith("3.")
    modbus["stats"]["pymodbus"] = "<version>"
    # Everything but the batteries' values, which the other tests check.
    shown = {key: value for key, value in diagnostics.items() if key != "batteries"}
    assert set(diagnostics["batteries"]) == {"AL90*********42"}
    assert _run_free(shown) == snapshot(extension_class=HomeAssistantSnapshotExtension)


@pytest.mark.usefixtures("quick_silence")
async def test_an_inverter_silent_for_12_hours_raises_the_repair(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
) -> None:
    """Silent for a night is no news; for 12 hours it is, until it answers."""
    await until(hass, lambda: state_of(hass, "sensor", "state_of_charge") is not None)
    issues = ir.async_get(hass)
    issue_id = f"modbus_not_answering_{loaded_modbus.entry_id}"
    reader = loaded_modbus.runtime_data.source.reader
    failures = sum(block.failures for block in reader.stats.blocks.values())
    inverter.server.silent = True
    # The request times out: the reader tells the trouble and resets the link.
    await until(
        hass,
        lambda: sum(block.failures for block in reader.stats.blocks.values())
        > failures,
    )
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=11))
    await hass.async_block_till_done()
    assert issues.async_get_issue(DOMAIN, issue_id) is None
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(hours=12, seconds=1))
    await hass.async_block_till_done()
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "modbus_not_answering"
    inverter.server.silent = False
    await until(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None)


async def test_a_link_cut_mid_read_loses_no_total(
    hass: HomeAssistant,
    loaded_modbus: MockConfigEntry,
    inverter: SimulatedInverter,
    battery_clock: BatteryClock,
) -> None:
    """A cut between a poll's block reads: no half-read record, the totals go on."""
    await until(
        hass, lambda: state_of(hass, "sensor", "battery_charge_energy") is not None
    )
    state = loaded_modbus.runtime_data.coordinator.data[MODBUS_SERIAL]
    reader = loaded_modbus.runtime_data.source.reader
    cuts: list[int] = []

    def cut_once(request: Any) -> None:
        # The second block of a live poll (the PV meter's, after the grid's).
        if not cuts and request.address == 0x0090:
            cuts.append(request.connection)
            inverter.server.drop_connections()

    # Whole polls so far, connections, and the records they gave: two a poll, and
    # a system report from the identity each connection reads first.
    polls, records = reader.stats.polls, state.counters["frames"]
    connects = reader.stats.connects
    inverter.server.on_request = cut_once
    await until(hass, lambda: bool(cuts))
    # Half an hour of the model: whatever the hour the test runs at, the battery or
    # the grid moves energy, so one of these totals moves by a register step at least
    # (0.1 kWh for the battery's).
    battery_clock.advance(1800)
    await inverter.server.refresh()
    image = inverter.server.image
    moved = {
        key: round(((image[address] << 16) | image[address + 1]) / per_kwh, 2)
        for key, address, per_kwh in (
            ("battery_charge", CHARGE_TOTAL, 10),
            ("battery_discharge", DISCHARGE_TOTAL, 10),
            ("grid_import", GRID_IMPORT_TOTAL, 100),
            ("grid_export", GRID_EXPORT_TOTAL, 100),
        )
    }
    key, expected = max(moved.items(), key=lambda item: item[1] - state.energy[item[0]])
    assert expected > state.energy[key]
    await until(hass, lambda: reader.stats.polls > polls + 1)
    # The cut poll gave no record: only whole polls did, one of each kind.
    assert state.counters["frames"] == (
        records + 2 * (reader.stats.polls - polls) + (reader.stats.connects - connects)
    )
    assert state.energy[key] == expected
    assert state.counters["energy_held"] == 0
    assert state_of(hass, "sensor", f"{key}_energy") == str(expected)
    assert reader.stats.connects > connects  # the reader came back on a new link


async def test_another_inverter_at_the_address_is_told_not_shown(
    hass: HomeAssistant,
    make_inverter: Callable[..., Any],
    battery_clock: BatteryClock,
) -> None:
    """The address now leads to another inverter: no second device in the entry."""
    stranger: SimulatedInverter = await make_inverter(clock=battery_clock)
    stranger.identity = Identity(serial="AL7012345678901")
    await stranger.server.refresh()
    entry = modbus_entry(stranger)  # made for MODBUS_SERIAL
    entry.add_to_hass(hass)
    issues = ir.async_get(hass)
    issue_id = f"modbus_other_inverter_{entry.entry_id}"
    assert await hass.config_entries.async_setup(entry.entry_id)
    await until(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is not None)
    issue = issues.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["serial"] == "AL70*********01"
    reader = entry.runtime_data.source.reader
    polls = reader.stats.polls
    await until(hass, lambda: reader.stats.polls > polls)
    assert entry.runtime_data.data == {}
    assert dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id) == []
    # Our inverter back at the address (the reader reads who answers at each
    # connection): its data is shown, the repair goes.
    stranger.identity = Identity()
    await stranger.server.refresh()
    stranger.server.drop_connections()
    await until(hass, lambda: issues.async_get_issue(DOMAIN, issue_id) is None)
    await until(hass, lambda: MODBUS_SERIAL in entry.runtime_data.data)
    await hass.config_entries.async_unload(entry.entry_id)


async def test_decided_scales_outlive_a_restart(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    loaded_modbus: MockConfigEntry,
) -> None:
    """A reload starts from the scales decided before, not from three new polls."""
    reader = loaded_modbus.runtime_data.source.reader
    await until(hass, lambda: set(reader.registers.decisions) >= DECIDED)
    decided = dict(reader.registers.decided)
    assert await hass.config_entries.async_reload(loaded_modbus.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"{DOMAIN}.{loaded_modbus.entry_id}.modbus"]["data"]
    assert stored == {"decided": decided}
    # Decided at start, before the inverter was read at all.
    again = loaded_modbus.runtime_data.source.reader
    assert again is not reader
    assert dict(again.registers.decided) == decided
    # The entry removed, its store goes with it.
    await hass.config_entries.async_remove(loaded_modbus.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.{loaded_modbus.entry_id}.modbus" not in hass_storage


async def test_the_schedule_service_asks_for_the_opt_in_over_modbus_too(
    hass: HomeAssistant, loaded_modbus: MockConfigEntry
) -> None:
    await until(hass, lambda: state_of(hass, "sensor", "state_of_charge") is not None)
    device = device_of(hass, loaded_modbus.entry_id, MODBUS_SERIAL)
    assert device is not None
    with pytest.raises(ServiceValidationError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "grid_charge": True},
            blocking=True,
        )
    assert raised.value.translation_key == "control_disabled"
    assert entity_id(hass, "time", "charge_window_1_start") is None


# --- control ------------------------------------------------------------------------


@pytest.fixture
async def controlled_modbus(
    hass: HomeAssistant, inverter: SimulatedInverter
) -> AsyncGenerator[MockConfigEntry]:
    """A Modbus entry whose owner allowed control."""
    entry = modbus_entry(inverter, **{CONF_ALLOW_CONTROL: True})
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await until(
        hass, lambda: state_of(hass, "time", "charge_window_1_start") == "00:00:00"
    )
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def settle(hass: HomeAssistant) -> None:
    """Home Assistant's clock past the settle; the change is written and read back."""
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=SETTING_SETTLE))
    async with asyncio.timeout(WAIT):
        await hass.async_block_till_done(wait_background_tasks=True)


def window_writes(inverter: SimulatedInverter) -> list[tuple[int, tuple[int, ...]]]:
    return [
        (address, values)
        for address, values in inverter.server.writes
        if address in (CHARGE_HOURS, CHARGE_MINUTES)
    ]


async def test_a_window_start_is_set_to_the_minute_over_modbus(
    hass: HomeAssistant,
    inverter: SimulatedInverter,
    controlled_modbus: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    start = entity_id(hass, "time", "charge_window_1_start")
    # The time field sends each part as it is edited: 02:00, then 02:30.
    for typed in ("02:00:00", "02:30:00"):
        await hass.services.async_call(
            "time", "set_value", {"entity_id": start, "time": typed}, blocking=True
        )
    await hass.async_block_till_done()
    assert window_writes(inverter) == []  # nothing before the settle
    await settle(hass)
    # Once, the final value: hour 2, minute 30, each to its register.
    assert window_writes(inverter) == [(CHARGE_HOURS, (2,)), (CHARGE_MINUTES, (30,))]
    assert state_of(hass, "time", "charge_window_1_start") == "02:30:00"
    assert "Charge window 1 start: 00:00 → 02:30 by an automation" in caplog.text
    assert MODBUS_SERIAL not in caplog.text


async def test_a_write_the_inverter_ignores_is_logged_as_not_applied(
    hass: HomeAssistant,
    inverter: SimulatedInverter,
    controlled_modbus: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    inverter.control.ignore_settings = True
    device = device_of(hass, controlled_modbus.entry_id, MODBUS_SERIAL)
    assert device is not None
    with pytest.raises(HomeAssistantError) as raised:
        await hass.services.async_call(
            DOMAIN,
            "set_charge_schedule",
            {"device_id": device.id, "start": "02:30:00", "charge_stop_soc": 90},
            blocking=True,
        )
    assert raised.value.translation_key == "not_applied"
    assert "did not apply TimeChaF1, BatHighCap" in caplog.text
    assert state_of(hass, "time", "charge_window_1_start") == "00:00:00"
