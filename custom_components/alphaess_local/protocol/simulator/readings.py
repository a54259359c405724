"""What the simulated battery measures and says about itself, in the battery's words.

The model (:mod:`..model`) holds numbers; the real battery sends strings, with its own
number of decimals per field, constant fields it never changes and an identity that is
all invented here. Keeping that formatting in one place lets the live records, the
history upload and the system report agree field by field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from ..codec.values import TIME_FORMAT
from .model import BatteryModel, Sample

DEFAULT_SERIAL: Final = "AL9002021030042"
_EVENT_STAMP: Final = "%y/%m/%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class Identity:
    """What the simulated battery says about itself (all invented)."""

    serial: str = DEFAULT_SERIAL
    password: str = "simulated-password"  # noqa: S105 - a fake battery's fake password
    address: str = "1 Simulation Road"
    zip_code: str = "S1234"
    phone: str = "0400000000"
    license: str = "SIM-LICENCE-1"
    inverter_serial: str = "SIMINV0001"
    battery_serial: str = "SIMBAT0001"


def _f(value: float, digits: int = 1) -> str:
    return f"{value:.{digits}f}"


def login_values(identity: Identity) -> dict[str, str]:
    """The login request's fields."""
    return {
        "UserName": identity.serial,
        "Password": identity.password,
        "CompanyName": "AlphaESS",
    }


def event_log(now: datetime) -> dict[str, str]:
    """The event log sent once per connection: two events a minute apart."""
    stamp = now.strftime(_EVENT_STAMP)
    earlier = (now - timedelta(minutes=1)).strftime(_EVENT_STAMP)
    return {
        "MsgType": "EventLog",
        "MsgContent": f"{stamp} 41;{earlier} 42;",
        "Description": "OK",
    }


def realtime_values(sample: Sample, serial: str) -> dict[str, str]:
    """The realtime record of ``sample``, pushed every 10 s."""
    return {
        "Time": sample.time.strftime(TIME_FORMAT),
        "SN": serial,
        "Ppv1": _f(sample.ppv1, 0),
        "Ppv2": _f(sample.ppv2, 0),
        "PrealL1": _f(sample.inverter, 0),
        "PrealL2": "0.0",
        "PrealL3": "0.0",
        "PmeterL1": _f(sample.grid, 0),
        "PmeterL2": "0",
        "PmeterL3": "0",
        "PmeterDC": "0",
        "Pbat": _f(sample.pbat, 4),
        "Sva": _f(abs(sample.inverter), 0),
        "VarAC": "-120",
        "VarDC": "10",
        "SOC": _f(sample.soc),
    }


def detail_values(sample: Sample, serial: str) -> dict[str, str]:
    """The detailed-record fields of ``sample`` as the battery formats them."""
    bat_v = 50.0 + sample.soc / 50
    totals = sample.totals
    return {
        "Time": sample.time.strftime(TIME_FORMAT),
        "SN": serial,
        "Ppv1": _f(sample.ppv1, 0),
        "Ppv2": _f(sample.ppv2, 0),
        "Upv1": "256.2" if sample.ppv1 else "0.0",
        "Upv2": "275.1" if sample.ppv2 else "0.0",
        "Ua": "239.8",
        "Ub": "0.0",
        "Uc": "0.0",
        "Fac": "50.01",
        "Ubus": "390",
        "PrealL1": _f(sample.inverter, 0),
        "PrealL2": "0",
        "PrealL3": "0",
        "Tinv": "38",
        "PacL1": "5000",
        "PacL2": "0",
        "PacL3": "0",
        "InvWorkMode": "3",
        "EpvTotal": _f(totals.pv),
        "Einput": _f(totals.grid_import, 2),
        "Eoutput": _f(totals.grid_export, 2),
        "Echarge": _f(totals.charge),
        "PmeterL1": _f(sample.grid, 0),
        "PmeterL2": "0",
        "PmeterL3": "0",
        "PmeterDC": "0",
        "Pbat": _f(sample.pbat, 4),
        "SOC": _f(sample.soc),
        "BatV": _f(bat_v, 2),
        "BatC": _f(sample.pbat / bat_v, 2),
        "FlagBms": "257",
        "BmsWork": "1",
        "Pcharge": "5050",
        "Pdischarge": "5050",
        "BmsRelay": "3",
        "BmsNum": "1",
        "VcellLow": str((1 << 24) | (4 << 16) | 3340),
        "VcellHigh": str((1 << 24) | (11 << 16) | 3352),
        "TcellLow": str((1 << 24) | (6 << 16) | 256 | 24),
        "TcellHigh": str((1 << 24) | (2 << 16) | 26),
        "BatC1": _f(sample.pbat / bat_v, 2),
        "SOC1": _f(sample.soc),
        "ErrInv": "0",
        "WarInv": "0",
        "ErrEms": "0",
        "ErrBms": "0",
        "ErrMeter": "0",
        "ErrBackupBox": "0",
        "EGridCharge": _f(totals.grid_charge),
        "EDischarge": _f(totals.discharge),
        "EmsStatus": "Normal",
        "BmsShutdown": "0",
        "InvBatV": _f(bat_v + 1, 2),
        "BmuRelay": "0",
        "DispatchSwitch": "0",
        "Pdispatch": "0",
        "DispatchSoc": "0",
        "DispatchMode": "0",
    }


def detailed_record(sample: Sample, serial: str) -> dict[str, str]:
    """The detailed record pushed every 5 min: the fields plus the link's signal."""
    return detail_values(sample, serial) | {"Eirp": "-63", "CSQ": "99,99"}


def system_report(
    identity: Identity, model: BatteryModel, settings: Mapping[str, object]
) -> dict[str, object]:
    """The system report: who the battery is, what it is made of, its ``settings``."""
    return {
        "SN": identity.serial,
        "Address": identity.address,
        "ZipCode": identity.zip_code,
        "Country": "Australia",
        "PhoneNumber": identity.phone,
        "License": identity.license,
        "Popv": _f(model.pv_peak / 500, 1),
        "Minv": "Storion-GINLANG-S5",
        "Poinv": "4.6",
        "Cobat": _f(model.capacity_kwh, 3),
        "Mbat": "Smile-BAT-10.1P",
        "Uscapacity": "90",
        "BatterySN1": identity.battery_serial,
        "BMSVersion": "V1.04",
        "EMSVersion": "V1.01.05",
        "InvVersion": "V00.21",
        "InvHWVersion": "V1.02",
        "InvSN": identity.inverter_serial,
        **settings,
        "FirmwareVersion": "V1.01",
        "NetType": "E_Linker",
        "WifiSN": "SIMWIFI0001",
    }
