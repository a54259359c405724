"""Sensors: realtime power flows, lifetime energy, battery and grid detail, diagnostics.

Every value comes from a typed record of the protocol package; the lambdas here only
pick fields (and clip signed powers into the non-negative halves the Energy dashboard
and power cards want). Lifetime energy comes from :attr:`BatteryState.energy`, which
never steps backwards. :func:`shown_value` rounds each value to what the battery
measures, the one place that keeps a meaningless decimal from costing a recorder row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
    UnitOfTemperature,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .battery import (
    BatteryState,
    Part,
    PartValue,
    from_record,
    heard,
)
from .entity import (
    AlphaEssEntity,
    AlphaEssEntityDescription,
    async_add_battery_entities,
    without_mirrors,
)
from .protocol import DetailedRecord, PackedCell, RealtimeRecord, SystemReport
from .runtime_data import AlphaEssConfigEntry
from .source import Capability

PARALLEL_UPDATES = 0

type Value = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class AlphaEssSensorEntityDescription(
    SensorEntityDescription, AlphaEssEntityDescription
):
    """A sensor: how to read its value and when the battery has it at all."""

    value_fn: Callable[[BatteryState], Value]
    exists_fn: Callable[[BatteryState], bool]
    # Decimals the battery measures this value to (None: shown as it arrives). Every
    # different state string is a row in the recorder's database: "1653.9826 W" from a
    # product of volts and amps would make each flicker of the fourth decimal one.
    decimals: int | None = None


def _realtime(read: Callable[[RealtimeRecord], Value]) -> PartValue[Value]:
    return from_record(Part.REALTIME, read)


def _detail(read: Callable[[DetailedRecord], Value]) -> PartValue[Value]:
    return from_record(Part.DETAIL, read)


def _report(read: Callable[[SystemReport], Value]) -> PartValue[Value]:
    return from_record(Part.REPORT, read)


def _positive(value: float | None) -> float | None:
    """The part of a signed power above zero (never ``-0``)."""
    if value is None:
        return None
    return value if value > 0 else 0.0


def _negative(value: float | None) -> float | None:
    """The part of a signed power below zero, as a positive number (never ``-0``)."""
    if value is None:
        return None
    return -value if value < 0 else 0.0


def _has_realtime(state: BatteryState) -> bool:
    return state.realtime is not None


def _has_detail(state: BatteryState) -> bool:
    return state.detail is not None


def _has_report(state: BatteryState) -> bool:
    return state.report is not None


def _three_phase_realtime(state: BatteryState) -> bool:
    return state.three_phase and state.realtime is not None


def _three_phase_detail(state: BatteryState) -> bool:
    return state.three_phase and state.detail is not None


def _power(
    key: str,
    value_fn: Callable[[BatteryState], Value],
    *,
    exists_fn: Callable[[BatteryState], bool] = _has_realtime,
    translation_key: str | None = None,
    translation_placeholders: dict[str, str] | None = None,
    entity_category: EntityCategory | None = None,
    enabled_default: bool = True,
) -> AlphaEssSensorEntityDescription:
    return AlphaEssSensorEntityDescription(
        key=key,
        translation_key=translation_key or key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        decimals=0,
        entity_category=entity_category,
        entity_registry_enabled_default=enabled_default,
        value_fn=value_fn,
        exists_fn=exists_fn,
        translation_placeholders=translation_placeholders,
    )


def _energy(key: str, total: str) -> AlphaEssSensorEntityDescription:
    """The sensor ``key`` of lifetime total ``total`` (``energy_key``: its statistics)."""
    return AlphaEssSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=1,
        # Lifetime totals come with detailed records (history goes to statistics).
        value_fn=PartValue(Part.DETAIL, lambda state: state.energy.get(total)),
        exists_fn=lambda state: total in state.energy,
    )


def _phase_power(
    key: str,
    translation_key: str,
    phase: str,
    read: Callable[[RealtimeRecord], float | None],
) -> AlphaEssSensorEntityDescription:
    """One phase of a three-phase power; the phases share a translation."""
    return _power(
        key,
        _realtime(read),
        translation_key=translation_key,
        translation_placeholders={"phase": phase},
        exists_fn=_three_phase_realtime,
    )


def _code(
    key: str, read: Callable[[DetailedRecord], int | None]
) -> AlphaEssSensorEntityDescription:
    return AlphaEssSensorEntityDescription(
        key=key,
        translation_key=key,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_detail(read),
        exists_fn=_has_detail,
    )


REALTIME_SENSORS: tuple[AlphaEssSensorEntityDescription, ...] = (
    AlphaEssSensorEntityDescription(
        key="state_of_charge",
        translation_key="state_of_charge",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=_realtime(lambda r: r.soc),
        exists_fn=_has_realtime,
    ),
    _power("battery_power", _realtime(lambda r: r.pbat)),
    # The halves say what battery power and grid power say, every push: off until an
    # owner wants them (a power card that cannot show a signed value).
    _power(
        "battery_charge_power",
        _realtime(lambda r: _negative(r.pbat)),
        enabled_default=False,
    ),
    _power(
        "battery_discharge_power",
        _realtime(lambda r: _positive(r.pbat)),
        enabled_default=False,
    ),
    _power("pv_power", _realtime(lambda r: r.pv_power)),
    _power("pv1_power", _realtime(lambda r: r.ppv1)),
    _power("pv2_power", _realtime(lambda r: r.ppv2)),
    _power("ac_pv_power", _realtime(lambda r: r.pmeter_dc)),
    _power("grid_power", _realtime(lambda r: r.grid_power)),
    _power(
        "grid_import_power",
        _realtime(lambda r: _positive(r.grid_power)),
        enabled_default=False,
    ),
    _power(
        "grid_export_power",
        _realtime(lambda r: _negative(r.grid_power)),
        enabled_default=False,
    ),
    _power("inverter_power", _realtime(lambda r: r.inverter_power)),
    _power("house_load", _realtime(lambda r: r.house_load)),
    AlphaEssSensorEntityDescription(
        key="apparent_power",
        translation_key="apparent_power",
        device_class=SensorDeviceClass.APPARENT_POWER,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        decimals=0,
        value_fn=_realtime(lambda r: r.apparent_power),
        exists_fn=_has_realtime,
    ),
    AlphaEssSensorEntityDescription(
        key="reactive_power",
        translation_key="reactive_power",
        device_class=SensorDeviceClass.REACTIVE_POWER,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        decimals=0,
        value_fn=_realtime(lambda r: r.reactive_power_ac),
        exists_fn=_has_realtime,
    ),
    _phase_power("grid_power_l1", "grid_power_phase", "L1", lambda r: r.pmeter_l1),
    _phase_power("grid_power_l2", "grid_power_phase", "L2", lambda r: r.pmeter_l2),
    _phase_power("grid_power_l3", "grid_power_phase", "L3", lambda r: r.pmeter_l3),
    _phase_power(
        "inverter_power_l1", "inverter_power_phase", "L1", lambda r: r.preal_l1
    ),
    _phase_power(
        "inverter_power_l2", "inverter_power_phase", "L2", lambda r: r.preal_l2
    ),
    _phase_power(
        "inverter_power_l3", "inverter_power_phase", "L3", lambda r: r.preal_l3
    ),
)


def _voltage(
    key: str,
    read: Callable[[DetailedRecord], float | None],
    *,
    exists_fn: Callable[[BatteryState], bool] = _has_detail,
    translation_key: str | None = None,
    translation_placeholders: dict[str, str] | None = None,
    decimals: int = 1,
) -> AlphaEssSensorEntityDescription:
    return AlphaEssSensorEntityDescription(
        key=key,
        translation_key=translation_key or key,
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        decimals=decimals,
        value_fn=_detail(read),
        exists_fn=exists_fn,
        translation_placeholders=translation_placeholders,
    )


def _cell(attribute: str) -> Callable[[BatteryState], Value]:
    """Value of a packed cell extreme (``vcell_low`` …), unpacked by the codec."""

    def read(record: DetailedRecord) -> Value:
        cell: PackedCell | None = getattr(record, attribute)
        return cell.value if cell else None

    return _detail(read)


def _module_soc(key: str, number: int) -> AlphaEssSensorEntityDescription:
    def read(record: DetailedRecord) -> float | None:
        socs = record.module_socs
        return socs[number - 1] if len(socs) >= number else None

    def exists(state: BatteryState) -> bool:
        modules = state.detail.bms_num or 0 if state.detail else 0
        return modules > 1 and number <= modules

    return AlphaEssSensorEntityDescription(
        key=key,
        translation_key="module_soc",
        translation_placeholders={"module": str(number)},
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        value_fn=_detail(read),
        exists_fn=exists,
    )


DETAIL_SENSORS: tuple[AlphaEssSensorEntityDescription, ...] = (
    _energy("pv_energy", "pv"),
    _energy("grid_import_energy", "grid_import"),
    _energy("grid_export_energy", "grid_export"),
    _energy("battery_charge_energy", "battery_charge"),
    _energy("battery_discharge_energy", "battery_discharge"),
    _energy("battery_grid_charge_energy", "battery_grid_charge"),
    _voltage("pv1_voltage", lambda r: r.upv1),
    _voltage("pv2_voltage", lambda r: r.upv2),
    _voltage("grid_voltage", lambda r: r.ua),
    _voltage(
        "grid_voltage_l2",
        lambda r: r.ub,
        translation_key="grid_voltage_phase",
        translation_placeholders={"phase": "L2"},
        exists_fn=_three_phase_detail,
    ),
    _voltage(
        "grid_voltage_l3",
        lambda r: r.uc,
        translation_key="grid_voltage_phase",
        translation_placeholders={"phase": "L3"},
        exists_fn=_three_phase_detail,
    ),
    # Measured to 10 mV ("50.48"), unlike the grid and PV voltages (0.1 V).
    _voltage("battery_voltage", lambda r: r.bat_v, decimals=2),
    AlphaEssSensorEntityDescription(
        key="grid_frequency",
        translation_key="grid_frequency",
        device_class=SensorDeviceClass.FREQUENCY,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=2,
        value_fn=_detail(lambda r: r.fac),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="battery_current",
        translation_key="battery_current",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        # Sent as "-36.60": the second decimal is always 0.
        decimals=1,
        value_fn=_detail(lambda r: r.bat_c),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="inverter_temperature",
        translation_key="inverter_temperature",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_detail(lambda r: r.tinv),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="cell_voltage_low",
        translation_key="cell_voltage_low",
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.MILLIVOLT,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_cell("vcell_low"),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="cell_voltage_high",
        translation_key="cell_voltage_high",
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.MILLIVOLT,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_cell("vcell_high"),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="cell_temperature_low",
        translation_key="cell_temperature_low",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_cell("tcell_low"),
        exists_fn=_has_detail,
    ),
    AlphaEssSensorEntityDescription(
        key="cell_temperature_high",
        translation_key="cell_temperature_high",
        device_class=SensorDeviceClass.TEMPERATURE,
        native_unit_of_measurement=UnitOfTemperature.CELSIUS,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_cell("tcell_high"),
        exists_fn=_has_detail,
    ),
    _power(
        "bms_charge_limit",
        _detail(lambda r: r.pcharge),
        exists_fn=_has_detail,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _power(
        "bms_discharge_limit",
        _detail(lambda r: r.pdischarge),
        exists_fn=_has_detail,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    _module_soc("module_soc_1", 1),
    _module_soc("module_soc_2", 2),
    _module_soc("module_soc_3", 3),
    _module_soc("module_soc_4", 4),
    _module_soc("module_soc_5", 5),
    _module_soc("module_soc_6", 6),
    _code("inverter_error", lambda r: r.err_inv),
    _code("inverter_warning", lambda r: r.war_inv),
    _code("ems_error", lambda r: r.err_ems),
    _code("bms_error", lambda r: r.err_bms),
    _code("meter_error", lambda r: r.err_meter),
    _code("backup_box_error", lambda r: r.err_backup_box),
    AlphaEssSensorEntityDescription(
        key="ems_status",
        translation_key="ems_status",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_detail(lambda r: r.ems_status),
        exists_fn=_has_detail,
    ),
    _code("dispatch_mode", lambda r: r.dispatch_mode),
    _power(
        "dispatch_power",
        _detail(lambda r: r.pdispatch),
        exists_fn=_has_detail,
        entity_category=EntityCategory.DIAGNOSTIC,
    ),
    AlphaEssSensorEntityDescription(
        key="dispatch_soc",
        translation_key="dispatch_soc",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_detail(lambda r: r.dispatch_soc),
        exists_fn=_has_detail,
    ),
)

REPORT_SENSORS: tuple[AlphaEssSensorEntityDescription, ...] = (
    AlphaEssSensorEntityDescription(
        key="battery_capacity",
        translation_key="battery_capacity",
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=1,
        value_fn=_report(lambda r: r.battery_capacity),
        exists_fn=_has_report,
    ),
    AlphaEssSensorEntityDescription(
        key="usable_capacity",
        translation_key="usable_capacity",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_report(lambda r: r.usable_capacity),
        exists_fn=_has_report,
    ),
    AlphaEssSensorEntityDescription(
        key="charge_stop_soc",
        translation_key="charge_stop_soc",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_report(lambda r: r.charge_stop_soc),
        exists_fn=_has_report,
    ),
    AlphaEssSensorEntityDescription(
        key="discharge_cutoff_soc",
        translation_key="discharge_cutoff_soc",
        native_unit_of_measurement=PERCENTAGE,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_report(lambda r: r.discharge_cutoff_soc),
        exists_fn=_has_report,
    ),
)


def _clock_offset(state: BatteryState) -> int | None:
    """Battery clock minus local time, in whole seconds, moving in 10 s steps.

    From the smoothed estimate rather than the latest record, so it does not jitter
    with network latency, and it shows the jump when daylight saving changes.
    """
    offset = state.shown_clock_offset()
    return None if offset is None else round(offset.total_seconds())


STATE_SENSORS: tuple[AlphaEssSensorEntityDescription, ...] = (
    # When the link came up, not when the last push came: that would write a state
    # (and a logbook line) every 10 s. The connectivity sensor says it is up.
    AlphaEssSensorEntityDescription(
        key="connected_since",
        translation_key="connected_since",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda state: state.connected_since,
        exists_fn=heard,
    ),
    AlphaEssSensorEntityDescription(
        key="clock_offset",
        translation_key="clock_offset",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        suggested_display_precision=0,
        value_fn=_clock_offset,
        exists_fn=lambda state: state.clock_offset is not None,
    ),
)

# Values no Modbus register holds: only an entry whose source reads the cloud link's
# records has these sensors, rather than sensors "unknown" for good.
CLOUD_RECORDS_ONLY: Final = frozenset(
    {
        "apparent_power",
        "reactive_power",
        "ems_error",
        "meter_error",
        "backup_box_error",
        "ems_status",
        "dispatch_mode",
        "dispatch_power",
        "dispatch_soc",
        "usable_capacity",
    }
)
SENSORS = tuple(
    replace(d, requires=Capability.CLOUD_RECORDS) if d.key in CLOUD_RECORDS_ONLY else d
    for d in REALTIME_SENSORS + DETAIL_SENSORS + REPORT_SENSORS + STATE_SENSORS
)
# Read-only views of settings that the number entities show when control is on.
SETTING_MIRRORS: Final = frozenset({"charge_stop_soc", "discharge_cutoff_soc"})


async def async_setup_entry(
    hass: HomeAssistant,
    entry: AlphaEssConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add sensors for every battery as its data appears."""
    async_add_battery_entities(
        entry,
        async_add_entities,
        without_mirrors(hass, entry, "sensor", SENSORS, SETTING_MIRRORS),
        AlphaEssSensor,
    )


def shown_value(
    description: AlphaEssSensorEntityDescription, state: BatteryState
) -> Value:
    """The value, to the decimals the battery measures it to.

    Rounded here, not by ``suggested_display_precision``: that only changes what the
    frontend shows, while the state (and a recorder row per new state) keeps every
    decimal. Whole watts are ints, so the state reads "1654", not "1654.0".
    """
    value = description.value_fn(state)
    decimals = description.decimals
    if decimals is None or not isinstance(value, float):
        return value
    if decimals == 0:
        return round(value)
    return round(value, decimals) + 0.0  # + 0.0: never "-0.0"


class AlphaEssSensor(AlphaEssEntity, SensorEntity):
    """A battery value."""

    entity_description: AlphaEssSensorEntityDescription

    @property
    def native_value(self) -> Value:
        """Current value, read from the battery's latest records."""
        return shown_value(self.entity_description, self.battery)

    def _value(self) -> object:
        return self.native_value
