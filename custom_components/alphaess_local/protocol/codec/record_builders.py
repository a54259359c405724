"""Builders for the record types, one plain function each. Generated: do not edit.

Written by scripts/generate_builders.py from the field declarations in records.py.
After changing a record's fields, run ``.venv/bin/python scripts/generate_builders.py``;
tests/protocol/test_record_builders.py fails while this file is not what they produce.

Every realtime push and every history row is built here, so each field's key, parser
and memo is written out instead of looked up per key, and the record is filled through
its slots (:func:`records.slot_setter`). A builder hands back ``None`` for the rare
payload it leaves to the general loop, :func:`records.build_general` (both aliases of
one field present, values given for fields the payload fills); that loop is the
reference, and tests/protocol/test_messages.py holds the two equal on random payloads.

A float field's string is read by ``parse_float`` written out, its memo missed on
every new reading: ``x - x`` is 0.0 for a finite ``x``, NaN for an infinity or NaN.
The memo's bounds are written as numbers, as a global would cost a lookup each miss.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from . import settings
from .records import (
    UNSEEN,
    DetailedRecord,
    PowerRecord,
    RealtimeRecord,
    SystemReport,
    memo,
    slot_setter,
    unread_values,
)
from .values import (
    parse_float,
    parse_int,
    parse_packed_temperature,
    parse_packed_voltage,
    parse_str,
    parse_time,
)

type Builder = Callable[[Mapping[str, object], Mapping[str, object]], object | None]
"""A record type's builder: ``(payload, known field values)`` → record or ``None``."""

_new: Final = object.__new__

# Each parser's memo, shared with the general loop.
_CHARGE_STOP_SOC_MEMO: Final = memo(settings.CHARGE_STOP_SOC.parse)
_DISCHARGE_CONTROL_MEMO: Final = memo(settings.DISCHARGE_CONTROL.parse)
_DISCHARGE_CUTOFF_SOC_MEMO: Final = memo(settings.DISCHARGE_CUTOFF_SOC.parse)
_FLOAT_MEMO: Final = memo(parse_float)
_GRID_CHARGING_MEMO: Final = memo(settings.GRID_CHARGING.parse)
_INT_MEMO: Final = memo(parse_int)
_PACKED_TEMPERATURE_MEMO: Final = memo(parse_packed_temperature)
_PACKED_VOLTAGE_MEMO: Final = memo(parse_packed_voltage)
_STR_MEMO: Final = memo(parse_str)

# What sets each field.
_set_power_record_serial: Final = slot_setter(PowerRecord, "serial")
_set_power_record_time: Final = slot_setter(PowerRecord, "time")
_set_power_record_ppv1: Final = slot_setter(PowerRecord, "ppv1")
_set_power_record_ppv2: Final = slot_setter(PowerRecord, "ppv2")
_set_power_record_preal_l1: Final = slot_setter(PowerRecord, "preal_l1")
_set_power_record_preal_l2: Final = slot_setter(PowerRecord, "preal_l2")
_set_power_record_preal_l3: Final = slot_setter(PowerRecord, "preal_l3")
_set_power_record_pmeter_l1: Final = slot_setter(PowerRecord, "pmeter_l1")
_set_power_record_pmeter_l2: Final = slot_setter(PowerRecord, "pmeter_l2")
_set_power_record_pmeter_l3: Final = slot_setter(PowerRecord, "pmeter_l3")
_set_power_record_pmeter_dc: Final = slot_setter(PowerRecord, "pmeter_dc")
_set_power_record_pbat: Final = slot_setter(PowerRecord, "pbat")
_set_power_record_soc: Final = slot_setter(PowerRecord, "soc")
_set_power_record_extra: Final = slot_setter(PowerRecord, "extra")
_set_realtime_record_apparent_power: Final = slot_setter(
    RealtimeRecord, "apparent_power"
)
_set_realtime_record_reactive_power_ac: Final = slot_setter(
    RealtimeRecord, "reactive_power_ac"
)
_set_realtime_record_reactive_power_dc: Final = slot_setter(
    RealtimeRecord, "reactive_power_dc"
)
_set_detailed_record_upv1: Final = slot_setter(DetailedRecord, "upv1")
_set_detailed_record_upv2: Final = slot_setter(DetailedRecord, "upv2")
_set_detailed_record_ua: Final = slot_setter(DetailedRecord, "ua")
_set_detailed_record_ub: Final = slot_setter(DetailedRecord, "ub")
_set_detailed_record_uc: Final = slot_setter(DetailedRecord, "uc")
_set_detailed_record_fac: Final = slot_setter(DetailedRecord, "fac")
_set_detailed_record_ubus: Final = slot_setter(DetailedRecord, "ubus")
_set_detailed_record_tinv: Final = slot_setter(DetailedRecord, "tinv")
_set_detailed_record_pac_l1: Final = slot_setter(DetailedRecord, "pac_l1")
_set_detailed_record_pac_l2: Final = slot_setter(DetailedRecord, "pac_l2")
_set_detailed_record_pac_l3: Final = slot_setter(DetailedRecord, "pac_l3")
_set_detailed_record_inv_work_mode: Final = slot_setter(DetailedRecord, "inv_work_mode")
_set_detailed_record_epv_total: Final = slot_setter(DetailedRecord, "epv_total")
_set_detailed_record_e_input: Final = slot_setter(DetailedRecord, "e_input")
_set_detailed_record_e_output: Final = slot_setter(DetailedRecord, "e_output")
_set_detailed_record_e_charge: Final = slot_setter(DetailedRecord, "e_charge")
_set_detailed_record_e_discharge: Final = slot_setter(DetailedRecord, "e_discharge")
_set_detailed_record_e_grid_charge: Final = slot_setter(DetailedRecord, "e_grid_charge")
_set_detailed_record_bat_v: Final = slot_setter(DetailedRecord, "bat_v")
_set_detailed_record_bat_c: Final = slot_setter(DetailedRecord, "bat_c")
_set_detailed_record_inv_bat_v: Final = slot_setter(DetailedRecord, "inv_bat_v")
_set_detailed_record_pcharge: Final = slot_setter(DetailedRecord, "pcharge")
_set_detailed_record_pdischarge: Final = slot_setter(DetailedRecord, "pdischarge")
_set_detailed_record_bms_num: Final = slot_setter(DetailedRecord, "bms_num")
_set_detailed_record_vcell_low: Final = slot_setter(DetailedRecord, "vcell_low")
_set_detailed_record_vcell_high: Final = slot_setter(DetailedRecord, "vcell_high")
_set_detailed_record_tcell_low: Final = slot_setter(DetailedRecord, "tcell_low")
_set_detailed_record_tcell_high: Final = slot_setter(DetailedRecord, "tcell_high")
_set_detailed_record_flag_bms: Final = slot_setter(DetailedRecord, "flag_bms")
_set_detailed_record_bms_work: Final = slot_setter(DetailedRecord, "bms_work")
_set_detailed_record_bms_relay: Final = slot_setter(DetailedRecord, "bms_relay")
_set_detailed_record_bmu_relay: Final = slot_setter(DetailedRecord, "bmu_relay")
_set_detailed_record_bms_shutdown: Final = slot_setter(DetailedRecord, "bms_shutdown")
_set_detailed_record_bat_c1: Final = slot_setter(DetailedRecord, "bat_c1")
_set_detailed_record_bat_c2: Final = slot_setter(DetailedRecord, "bat_c2")
_set_detailed_record_bat_c3: Final = slot_setter(DetailedRecord, "bat_c3")
_set_detailed_record_bat_c4: Final = slot_setter(DetailedRecord, "bat_c4")
_set_detailed_record_bat_c5: Final = slot_setter(DetailedRecord, "bat_c5")
_set_detailed_record_bat_c6: Final = slot_setter(DetailedRecord, "bat_c6")
_set_detailed_record_soc1: Final = slot_setter(DetailedRecord, "soc1")
_set_detailed_record_soc2: Final = slot_setter(DetailedRecord, "soc2")
_set_detailed_record_soc3: Final = slot_setter(DetailedRecord, "soc3")
_set_detailed_record_soc4: Final = slot_setter(DetailedRecord, "soc4")
_set_detailed_record_soc5: Final = slot_setter(DetailedRecord, "soc5")
_set_detailed_record_soc6: Final = slot_setter(DetailedRecord, "soc6")
_set_detailed_record_err_inv: Final = slot_setter(DetailedRecord, "err_inv")
_set_detailed_record_war_inv: Final = slot_setter(DetailedRecord, "war_inv")
_set_detailed_record_err_ems: Final = slot_setter(DetailedRecord, "err_ems")
_set_detailed_record_err_bms: Final = slot_setter(DetailedRecord, "err_bms")
_set_detailed_record_err_meter: Final = slot_setter(DetailedRecord, "err_meter")
_set_detailed_record_err_backup_box: Final = slot_setter(
    DetailedRecord, "err_backup_box"
)
_set_detailed_record_ems_status: Final = slot_setter(DetailedRecord, "ems_status")
_set_detailed_record_dispatch_switch: Final = slot_setter(
    DetailedRecord, "dispatch_switch"
)
_set_detailed_record_pdispatch: Final = slot_setter(DetailedRecord, "pdispatch")
_set_detailed_record_dispatch_soc: Final = slot_setter(DetailedRecord, "dispatch_soc")
_set_detailed_record_dispatch_mode: Final = slot_setter(DetailedRecord, "dispatch_mode")
_set_detailed_record_pmeter_dc_l1: Final = slot_setter(DetailedRecord, "pmeter_dc_l1")
_set_detailed_record_pmeter_dc_l2: Final = slot_setter(DetailedRecord, "pmeter_dc_l2")
_set_detailed_record_pmeter_dc_l3: Final = slot_setter(DetailedRecord, "pmeter_dc_l3")
_set_system_report_serial: Final = slot_setter(SystemReport, "serial")
_set_system_report_inverter_model: Final = slot_setter(SystemReport, "inverter_model")
_set_system_report_battery_model: Final = slot_setter(SystemReport, "battery_model")
_set_system_report_pv_capacity: Final = slot_setter(SystemReport, "pv_capacity")
_set_system_report_inverter_power: Final = slot_setter(SystemReport, "inverter_power")
_set_system_report_battery_capacity: Final = slot_setter(
    SystemReport, "battery_capacity"
)
_set_system_report_usable_capacity: Final = slot_setter(SystemReport, "usable_capacity")
_set_system_report_ems_version: Final = slot_setter(SystemReport, "ems_version")
_set_system_report_bms_version: Final = slot_setter(SystemReport, "bms_version")
_set_system_report_inverter_version: Final = slot_setter(
    SystemReport, "inverter_version"
)
_set_system_report_inverter_hw_version: Final = slot_setter(
    SystemReport, "inverter_hw_version"
)
_set_system_report_slave_version: Final = slot_setter(SystemReport, "slave_version")
_set_system_report_firmware_version: Final = slot_setter(
    SystemReport, "firmware_version"
)
_set_system_report_net_type: Final = slot_setter(SystemReport, "net_type")
_set_system_report_wifi_sw: Final = slot_setter(SystemReport, "wifi_sw")
_set_system_report_wifi_hw: Final = slot_setter(SystemReport, "wifi_hw")
_set_system_report_country: Final = slot_setter(SystemReport, "country")
_set_system_report_grid_charge: Final = slot_setter(SystemReport, "grid_charge")
_set_system_report_discharge_control: Final = slot_setter(
    SystemReport, "discharge_control"
)
_set_system_report_charge_stop_soc: Final = slot_setter(SystemReport, "charge_stop_soc")
_set_system_report_discharge_cutoff_soc: Final = slot_setter(
    SystemReport, "discharge_cutoff_soc"
)
_set_system_report_export_limit: Final = slot_setter(SystemReport, "export_limit")
_set_system_report_address: Final = slot_setter(SystemReport, "address")
_set_system_report_zip_code: Final = slot_setter(SystemReport, "zip_code")
_set_system_report_phone_number: Final = slot_setter(SystemReport, "phone_number")
_set_system_report_license: Final = slot_setter(SystemReport, "license")
_set_system_report_inverter_serial: Final = slot_setter(SystemReport, "inverter_serial")
_set_system_report_wifi_serial: Final = slot_setter(SystemReport, "wifi_serial")
_set_system_report_extra: Final = slot_setter(SystemReport, "extra")
_set_system_report_raw: Final = slot_setter(SystemReport, "raw")

# The payload keys a RealtimeRecord reads.
_REALTIME_RECORD_WIRED: Final = frozenset(
    {
        "SN",
        "Time",
        "Ppv1",
        "Ppv2",
        "PrealL1",
        "PrealL2",
        "PrealL3",
        "PmeterL1",
        "PmeterL2",
        "PmeterL3",
        "PmeterDC",
        "Pbat",
        "SOC",
        "Sva",
        "VarAC",
        "VarDC",
    }
)

# The payload keys a DetailedRecord reads.
_DETAILED_RECORD_WIRED: Final = frozenset(
    {
        "SN",
        "Time",
        "Ppv1",
        "Ppv2",
        "PrealL1",
        "PrealL2",
        "PrealL3",
        "PmeterL1",
        "PmeterL2",
        "PmeterL3",
        "PmeterDC",
        "Pbat",
        "SOC",
        "Upv1",
        "Vpv1",
        "Upv2",
        "Vpv2",
        "Ua",
        "Ub",
        "Uc",
        "Fac",
        "Ubus",
        "Tinv",
        "PacL1",
        "PacL2",
        "PacL3",
        "InvWorkMode",
        "EpvTotal",
        "Einput",
        "Eoutput",
        "Echarge",
        "EDischarge",
        "EGridCharge",
        "BatV",
        "BatC",
        "InvBatV",
        "Pcharge",
        "Pdischarge",
        "BmsNum",
        "VcellLow",
        "VcellHigh",
        "TcellLow",
        "TcellHigh",
        "FlagBms",
        "BmsWork",
        "BmsRelay",
        "BmuRelay",
        "BmsShutdown",
        "BatC1",
        "BatC2",
        "BatC3",
        "BatC4",
        "BatC5",
        "BatC6",
        "SOC1",
        "SOC2",
        "SOC3",
        "SOC4",
        "SOC5",
        "SOC6",
        "ErrInv",
        "WarInv",
        "ErrEms",
        "ErrBms",
        "ErrMeter",
        "ErrBackupBox",
        "EmsStatus",
        "DispatchSwitch",
        "Pdispatch",
        "DispatchSoc",
        "DispatchMode",
        "PMeterDCL1",
        "PMeterDCL2",
        "PMeterDCL3",
    }
)

# The payload keys a SystemReport reads.
_SYSTEM_REPORT_WIRED: Final = frozenset(
    {
        "SN",
        "Minv",
        "Mbat",
        "Popv",
        "Poinv",
        "Cobat",
        "Uscapacity",
        "EMSVersion",
        "BMSVersion",
        "InvVersion",
        "InvHWVersion",
        "SlaveVersion",
        "FirmwareVersion",
        "NetType",
        "WifiSW",
        "WifiHW",
        "Country",
        "GridCharge",
        "CtrDis",
        "BatHighCap",
        "BatUseCap",
        "SetFeed",
        "Address",
        "ZipCode",
        "PhoneNumber",
        "License",
        "InvSN",
        "WifiSN",
    }
)

# The fields of a SystemReport that are given, not read.
_SYSTEM_REPORT_GIVEN: Final = frozenset(
    {
        "raw",
    }
)


def build_realtime_record(
    data: Mapping[str, object], known: Mapping[str, object]
) -> RealtimeRecord | None:
    """Build a :class:`RealtimeRecord`, or ``None``: the general loop's."""
    if known:
        return None
    get = data.get
    record = _new(RealtimeRecord)
    unread: list[str] = []
    raw: Any
    value: Any
    # serial: str | None, from "SN"
    raw = get("SN")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SN")
    _set_power_record_serial(record, value)
    # time: datetime | None, from "Time"
    raw = get("Time")
    value = parse_time(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Time")
    _set_power_record_time(record, value)
    # ppv1: float | None, from "Ppv1"
    raw = get("Ppv1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ppv1")
    _set_power_record_ppv1(record, value)
    # ppv2: float | None, from "Ppv2"
    raw = get("Ppv2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ppv2")
    _set_power_record_ppv2(record, value)
    # preal_l1: float | None, from "PrealL1"
    raw = get("PrealL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL1")
    _set_power_record_preal_l1(record, value)
    # preal_l2: float | None, from "PrealL2"
    raw = get("PrealL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL2")
    _set_power_record_preal_l2(record, value)
    # preal_l3: float | None, from "PrealL3"
    raw = get("PrealL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL3")
    _set_power_record_preal_l3(record, value)
    # pmeter_l1: float | None, from "PmeterL1"
    raw = get("PmeterL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL1")
    _set_power_record_pmeter_l1(record, value)
    # pmeter_l2: float | None, from "PmeterL2"
    raw = get("PmeterL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL2")
    _set_power_record_pmeter_l2(record, value)
    # pmeter_l3: float | None, from "PmeterL3"
    raw = get("PmeterL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL3")
    _set_power_record_pmeter_l3(record, value)
    # pmeter_dc: float | None, from "PmeterDC"
    raw = get("PmeterDC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterDC")
    _set_power_record_pmeter_dc(record, value)
    # pbat: float | None, from "Pbat"
    raw = get("Pbat")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Pbat")
    _set_power_record_pbat(record, value)
    # soc: float | None, from "SOC"
    raw = get("SOC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC")
    _set_power_record_soc(record, value)
    # apparent_power: float | None, from "Sva"
    raw = get("Sva")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Sva")
    _set_realtime_record_apparent_power(record, value)
    # reactive_power_ac: float | None, from "VarAC"
    raw = get("VarAC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("VarAC")
    _set_realtime_record_reactive_power_ac(record, value)
    # reactive_power_dc: float | None, from "VarDC"
    raw = get("VarDC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("VarDC")
    _set_realtime_record_reactive_power_dc(record, value)
    _set_power_record_extra(record, unread_values(data, _REALTIME_RECORD_WIRED, unread))
    return record


def build_detailed_record(
    data: Mapping[str, object], known: Mapping[str, object]
) -> DetailedRecord | None:
    """Build a :class:`DetailedRecord`, or ``None``: the general loop's."""
    if known:
        return None
    get = data.get
    record = _new(DetailedRecord)
    unread: list[str] = []
    raw: Any
    value: Any
    # serial: str | None, from "SN"
    raw = get("SN")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SN")
    _set_power_record_serial(record, value)
    # time: datetime | None, from "Time"
    raw = get("Time")
    value = parse_time(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Time")
    _set_power_record_time(record, value)
    # ppv1: float | None, from "Ppv1"
    raw = get("Ppv1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ppv1")
    _set_power_record_ppv1(record, value)
    # ppv2: float | None, from "Ppv2"
    raw = get("Ppv2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ppv2")
    _set_power_record_ppv2(record, value)
    # preal_l1: float | None, from "PrealL1"
    raw = get("PrealL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL1")
    _set_power_record_preal_l1(record, value)
    # preal_l2: float | None, from "PrealL2"
    raw = get("PrealL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL2")
    _set_power_record_preal_l2(record, value)
    # preal_l3: float | None, from "PrealL3"
    raw = get("PrealL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PrealL3")
    _set_power_record_preal_l3(record, value)
    # pmeter_l1: float | None, from "PmeterL1"
    raw = get("PmeterL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL1")
    _set_power_record_pmeter_l1(record, value)
    # pmeter_l2: float | None, from "PmeterL2"
    raw = get("PmeterL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL2")
    _set_power_record_pmeter_l2(record, value)
    # pmeter_l3: float | None, from "PmeterL3"
    raw = get("PmeterL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterL3")
    _set_power_record_pmeter_l3(record, value)
    # pmeter_dc: float | None, from "PmeterDC"
    raw = get("PmeterDC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PmeterDC")
    _set_power_record_pmeter_dc(record, value)
    # pbat: float | None, from "Pbat"
    raw = get("Pbat")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Pbat")
    _set_power_record_pbat(record, value)
    # soc: float | None, from "SOC"
    raw = get("SOC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC")
    _set_power_record_soc(record, value)
    # upv1: float | None, from "Upv1" or "Vpv1"
    if "Upv1" in data:
        if "Vpv1" in data:
            return None
        key = "Upv1"
        raw = data[key]
    else:
        key = "Vpv1"
        raw = get(key)
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append(key)
    _set_detailed_record_upv1(record, value)
    # upv2: float | None, from "Upv2" or "Vpv2"
    if "Upv2" in data:
        if "Vpv2" in data:
            return None
        key = "Upv2"
        raw = data[key]
    else:
        key = "Vpv2"
        raw = get(key)
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append(key)
    _set_detailed_record_upv2(record, value)
    # ua: float | None, from "Ua"
    raw = get("Ua")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ua")
    _set_detailed_record_ua(record, value)
    # ub: float | None, from "Ub"
    raw = get("Ub")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ub")
    _set_detailed_record_ub(record, value)
    # uc: float | None, from "Uc"
    raw = get("Uc")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Uc")
    _set_detailed_record_uc(record, value)
    # fac: float | None, from "Fac"
    raw = get("Fac")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Fac")
    _set_detailed_record_fac(record, value)
    # ubus: float | None, from "Ubus"
    raw = get("Ubus")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Ubus")
    _set_detailed_record_ubus(record, value)
    # tinv: float | None, from "Tinv"
    raw = get("Tinv")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Tinv")
    _set_detailed_record_tinv(record, value)
    # pac_l1: float | None, from "PacL1"
    raw = get("PacL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PacL1")
    _set_detailed_record_pac_l1(record, value)
    # pac_l2: float | None, from "PacL2"
    raw = get("PacL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PacL2")
    _set_detailed_record_pac_l2(record, value)
    # pac_l3: float | None, from "PacL3"
    raw = get("PacL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PacL3")
    _set_detailed_record_pac_l3(record, value)
    # inv_work_mode: int | None, from "InvWorkMode"
    raw = get("InvWorkMode")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("InvWorkMode")
    _set_detailed_record_inv_work_mode(record, value)
    # epv_total: float | None, from "EpvTotal"
    raw = get("EpvTotal")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("EpvTotal")
    _set_detailed_record_epv_total(record, value)
    # e_input: float | None, from "Einput"
    raw = get("Einput")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Einput")
    _set_detailed_record_e_input(record, value)
    # e_output: float | None, from "Eoutput"
    raw = get("Eoutput")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Eoutput")
    _set_detailed_record_e_output(record, value)
    # e_charge: float | None, from "Echarge"
    raw = get("Echarge")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Echarge")
    _set_detailed_record_e_charge(record, value)
    # e_discharge: float | None, from "EDischarge"
    raw = get("EDischarge")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("EDischarge")
    _set_detailed_record_e_discharge(record, value)
    # e_grid_charge: float | None, from "EGridCharge"
    raw = get("EGridCharge")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("EGridCharge")
    _set_detailed_record_e_grid_charge(record, value)
    # bat_v: float | None, from "BatV"
    raw = get("BatV")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatV")
    _set_detailed_record_bat_v(record, value)
    # bat_c: float | None, from "BatC"
    raw = get("BatC")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC")
    _set_detailed_record_bat_c(record, value)
    # inv_bat_v: float | None, from "InvBatV"
    raw = get("InvBatV")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("InvBatV")
    _set_detailed_record_inv_bat_v(record, value)
    # pcharge: float | None, from "Pcharge"
    raw = get("Pcharge")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Pcharge")
    _set_detailed_record_pcharge(record, value)
    # pdischarge: float | None, from "Pdischarge"
    raw = get("Pdischarge")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Pdischarge")
    _set_detailed_record_pdischarge(record, value)
    # bms_num: int | None, from "BmsNum"
    raw = get("BmsNum")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BmsNum")
    _set_detailed_record_bms_num(record, value)
    # vcell_low: PackedCell | None, from "VcellLow"
    raw = get("VcellLow")
    if raw.__class__ is str:
        value = _PACKED_VOLTAGE_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_packed_voltage(raw)
    if value is None and raw is not None and raw != "":
        unread.append("VcellLow")
    _set_detailed_record_vcell_low(record, value)
    # vcell_high: PackedCell | None, from "VcellHigh"
    raw = get("VcellHigh")
    if raw.__class__ is str:
        value = _PACKED_VOLTAGE_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_packed_voltage(raw)
    if value is None and raw is not None and raw != "":
        unread.append("VcellHigh")
    _set_detailed_record_vcell_high(record, value)
    # tcell_low: PackedCell | None, from "TcellLow"
    raw = get("TcellLow")
    if raw.__class__ is str:
        value = _PACKED_TEMPERATURE_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_packed_temperature(raw)
    if value is None and raw is not None and raw != "":
        unread.append("TcellLow")
    _set_detailed_record_tcell_low(record, value)
    # tcell_high: PackedCell | None, from "TcellHigh"
    raw = get("TcellHigh")
    if raw.__class__ is str:
        value = _PACKED_TEMPERATURE_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_packed_temperature(raw)
    if value is None and raw is not None and raw != "":
        unread.append("TcellHigh")
    _set_detailed_record_tcell_high(record, value)
    # flag_bms: int | None, from "FlagBms"
    raw = get("FlagBms")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("FlagBms")
    _set_detailed_record_flag_bms(record, value)
    # bms_work: int | None, from "BmsWork"
    raw = get("BmsWork")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BmsWork")
    _set_detailed_record_bms_work(record, value)
    # bms_relay: int | None, from "BmsRelay"
    raw = get("BmsRelay")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BmsRelay")
    _set_detailed_record_bms_relay(record, value)
    # bmu_relay: int | None, from "BmuRelay"
    raw = get("BmuRelay")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BmuRelay")
    _set_detailed_record_bmu_relay(record, value)
    # bms_shutdown: int | None, from "BmsShutdown"
    raw = get("BmsShutdown")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BmsShutdown")
    _set_detailed_record_bms_shutdown(record, value)
    # bat_c1: float | None, from "BatC1"
    raw = get("BatC1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC1")
    _set_detailed_record_bat_c1(record, value)
    # bat_c2: float | None, from "BatC2"
    raw = get("BatC2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC2")
    _set_detailed_record_bat_c2(record, value)
    # bat_c3: float | None, from "BatC3"
    raw = get("BatC3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC3")
    _set_detailed_record_bat_c3(record, value)
    # bat_c4: float | None, from "BatC4"
    raw = get("BatC4")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC4")
    _set_detailed_record_bat_c4(record, value)
    # bat_c5: float | None, from "BatC5"
    raw = get("BatC5")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC5")
    _set_detailed_record_bat_c5(record, value)
    # bat_c6: float | None, from "BatC6"
    raw = get("BatC6")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatC6")
    _set_detailed_record_bat_c6(record, value)
    # soc1: float | None, from "SOC1"
    raw = get("SOC1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC1")
    _set_detailed_record_soc1(record, value)
    # soc2: float | None, from "SOC2"
    raw = get("SOC2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC2")
    _set_detailed_record_soc2(record, value)
    # soc3: float | None, from "SOC3"
    raw = get("SOC3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC3")
    _set_detailed_record_soc3(record, value)
    # soc4: float | None, from "SOC4"
    raw = get("SOC4")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC4")
    _set_detailed_record_soc4(record, value)
    # soc5: float | None, from "SOC5"
    raw = get("SOC5")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC5")
    _set_detailed_record_soc5(record, value)
    # soc6: float | None, from "SOC6"
    raw = get("SOC6")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SOC6")
    _set_detailed_record_soc6(record, value)
    # err_inv: int | None, from "ErrInv"
    raw = get("ErrInv")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ErrInv")
    _set_detailed_record_err_inv(record, value)
    # war_inv: int | None, from "WarInv"
    raw = get("WarInv")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("WarInv")
    _set_detailed_record_war_inv(record, value)
    # err_ems: int | None, from "ErrEms"
    raw = get("ErrEms")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ErrEms")
    _set_detailed_record_err_ems(record, value)
    # err_bms: int | None, from "ErrBms"
    raw = get("ErrBms")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ErrBms")
    _set_detailed_record_err_bms(record, value)
    # err_meter: int | None, from "ErrMeter"
    raw = get("ErrMeter")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ErrMeter")
    _set_detailed_record_err_meter(record, value)
    # err_backup_box: int | None, from "ErrBackupBox"
    raw = get("ErrBackupBox")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ErrBackupBox")
    _set_detailed_record_err_backup_box(record, value)
    # ems_status: str | None, from "EmsStatus"
    raw = get("EmsStatus")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("EmsStatus")
    _set_detailed_record_ems_status(record, value)
    # dispatch_switch: int | None, from "DispatchSwitch"
    raw = get("DispatchSwitch")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("DispatchSwitch")
    _set_detailed_record_dispatch_switch(record, value)
    # pdispatch: float | None, from "Pdispatch"
    raw = get("Pdispatch")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Pdispatch")
    _set_detailed_record_pdispatch(record, value)
    # dispatch_soc: float | None, from "DispatchSoc"
    raw = get("DispatchSoc")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("DispatchSoc")
    _set_detailed_record_dispatch_soc(record, value)
    # dispatch_mode: int | None, from "DispatchMode"
    raw = get("DispatchMode")
    if raw.__class__ is str:
        value = _INT_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_int(raw)
    if value is None and raw is not None and raw != "":
        unread.append("DispatchMode")
    _set_detailed_record_dispatch_mode(record, value)
    # pmeter_dc_l1: float | None, from "PMeterDCL1"
    raw = get("PMeterDCL1")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PMeterDCL1")
    _set_detailed_record_pmeter_dc_l1(record, value)
    # pmeter_dc_l2: float | None, from "PMeterDCL2"
    raw = get("PMeterDCL2")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PMeterDCL2")
    _set_detailed_record_pmeter_dc_l2(record, value)
    # pmeter_dc_l3: float | None, from "PMeterDCL3"
    raw = get("PMeterDCL3")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PMeterDCL3")
    _set_detailed_record_pmeter_dc_l3(record, value)
    _set_power_record_extra(record, unread_values(data, _DETAILED_RECORD_WIRED, unread))
    return record


def build_system_report(
    data: Mapping[str, object], known: Mapping[str, object]
) -> SystemReport | None:
    """Build a :class:`SystemReport`, or ``None``: the general loop's."""
    if known and not known.keys() <= _SYSTEM_REPORT_GIVEN:
        return None
    get = data.get
    record = _new(SystemReport)
    unread: list[str] = []
    raw: Any
    value: Any
    # serial: str | None, from "SN"
    raw = get("SN")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SN")
    _set_system_report_serial(record, value)
    # inverter_model: str | None, from "Minv"
    raw = get("Minv")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Minv")
    _set_system_report_inverter_model(record, value)
    # battery_model: str | None, from "Mbat"
    raw = get("Mbat")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Mbat")
    _set_system_report_battery_model(record, value)
    # pv_capacity: float | None, from "Popv"
    raw = get("Popv")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Popv")
    _set_system_report_pv_capacity(record, value)
    # inverter_power: float | None, from "Poinv"
    raw = get("Poinv")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Poinv")
    _set_system_report_inverter_power(record, value)
    # battery_capacity: float | None, from "Cobat"
    raw = get("Cobat")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Cobat")
    _set_system_report_battery_capacity(record, value)
    # usable_capacity: float | None, from "Uscapacity"
    raw = get("Uscapacity")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Uscapacity")
    _set_system_report_usable_capacity(record, value)
    # ems_version: str | None, from "EMSVersion"
    raw = get("EMSVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("EMSVersion")
    _set_system_report_ems_version(record, value)
    # bms_version: str | None, from "BMSVersion"
    raw = get("BMSVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BMSVersion")
    _set_system_report_bms_version(record, value)
    # inverter_version: str | None, from "InvVersion"
    raw = get("InvVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("InvVersion")
    _set_system_report_inverter_version(record, value)
    # inverter_hw_version: str | None, from "InvHWVersion"
    raw = get("InvHWVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("InvHWVersion")
    _set_system_report_inverter_hw_version(record, value)
    # slave_version: str | None, from "SlaveVersion"
    raw = get("SlaveVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SlaveVersion")
    _set_system_report_slave_version(record, value)
    # firmware_version: str | None, from "FirmwareVersion"
    raw = get("FirmwareVersion")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("FirmwareVersion")
    _set_system_report_firmware_version(record, value)
    # net_type: str | None, from "NetType"
    raw = get("NetType")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("NetType")
    _set_system_report_net_type(record, value)
    # wifi_sw: str | None, from "WifiSW"
    raw = get("WifiSW")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("WifiSW")
    _set_system_report_wifi_sw(record, value)
    # wifi_hw: str | None, from "WifiHW"
    raw = get("WifiHW")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("WifiHW")
    _set_system_report_wifi_hw(record, value)
    # country: str | None, from "Country"
    raw = get("Country")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Country")
    _set_system_report_country(record, value)
    # grid_charge: bool | None, from "GridCharge"
    raw = get("GridCharge")
    if raw.__class__ is str:
        value = _GRID_CHARGING_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = settings.GRID_CHARGING.parse(raw)
    if value is None and raw is not None and raw != "":
        unread.append("GridCharge")
    _set_system_report_grid_charge(record, value)
    # discharge_control: bool | None, from "CtrDis"
    raw = get("CtrDis")
    if raw.__class__ is str:
        value = _DISCHARGE_CONTROL_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = settings.DISCHARGE_CONTROL.parse(raw)
    if value is None and raw is not None and raw != "":
        unread.append("CtrDis")
    _set_system_report_discharge_control(record, value)
    # charge_stop_soc: float | None, from "BatHighCap"
    raw = get("BatHighCap")
    if raw.__class__ is str:
        value = _CHARGE_STOP_SOC_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = settings.CHARGE_STOP_SOC.parse(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatHighCap")
    _set_system_report_charge_stop_soc(record, value)
    # discharge_cutoff_soc: float | None, from "BatUseCap"
    raw = get("BatUseCap")
    if raw.__class__ is str:
        value = _DISCHARGE_CUTOFF_SOC_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = settings.DISCHARGE_CUTOFF_SOC.parse(raw)
    if value is None and raw is not None and raw != "":
        unread.append("BatUseCap")
    _set_system_report_discharge_cutoff_soc(record, value)
    # export_limit: float | None, from "SetFeed"
    raw = get("SetFeed")
    if raw.__class__ is str:
        value = _FLOAT_MEMO.get(raw, UNSEEN)
        if value is UNSEEN:
            try:
                value = float(raw) if raw else None
            except ValueError:
                value = None
            if value is not None and value - value:
                value = None
            if len(raw) <= 32:  # CACHED_LENGTH
                if len(_FLOAT_MEMO) >= 4096:  # CACHE_LIMIT
                    _FLOAT_MEMO.clear()
                _FLOAT_MEMO[raw] = value
    elif raw is None:
        value = None
    else:
        value = parse_float(raw)
    if value is None and raw is not None and raw != "":
        unread.append("SetFeed")
    _set_system_report_export_limit(record, value)
    # address: str | None, from "Address"
    raw = get("Address")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("Address")
    _set_system_report_address(record, value)
    # zip_code: str | None, from "ZipCode"
    raw = get("ZipCode")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("ZipCode")
    _set_system_report_zip_code(record, value)
    # phone_number: str | None, from "PhoneNumber"
    raw = get("PhoneNumber")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("PhoneNumber")
    _set_system_report_phone_number(record, value)
    # license: str | None, from "License"
    raw = get("License")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("License")
    _set_system_report_license(record, value)
    # inverter_serial: str | None, from "InvSN"
    raw = get("InvSN")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("InvSN")
    _set_system_report_inverter_serial(record, value)
    # wifi_serial: str | None, from "WifiSN"
    raw = get("WifiSN")
    if raw.__class__ is str:
        value = _STR_MEMO[raw]
    elif raw is None:
        value = None
    else:
        value = parse_str(raw)
    if value is None and raw is not None and raw != "":
        unread.append("WifiSN")
    _set_system_report_wifi_serial(record, value)
    # raw: Mapping[str, object], given or {}
    _set_system_report_raw(record, known.get("raw", {}))
    _set_system_report_extra(record, unread_values(data, _SYSTEM_REPORT_WIRED, unread))
    return record


BUILDERS: Final[Mapping[type, Builder]] = {
    RealtimeRecord: build_realtime_record,
    DetailedRecord: build_detailed_record,
    SystemReport: build_system_report,
}
