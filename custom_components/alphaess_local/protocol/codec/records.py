"""Typed records for the JSON and CSV payloads, built from a declarative key map.

Each record field names the payload key(s) it comes from and the parser that types it.
:func:`build_general` fills the fields and keeps every key it did not consume (or could
not parse) in ``extra``, so nothing the battery sends is lost when firmware adds keys.

That loop is the reference, not the hot path: every realtime push and history row is
built by the plan record_plans.py makes of the declarations here at import, one tuple
per field. What both share lives here: the parsers' memos, the unread keys, the way a
field is set through its slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import datetime
from typing import Any, Final, cast

from . import settings
from .values import (
    PackedCell,
    Value,
    parse_any,
    parse_float,
    parse_int,
    parse_packed_temperature,
    parse_packed_voltage,
    parse_str,
    parse_time,
)

_KEYS: Final = "keys"
_PARSE: Final = "parse"


def wire(*keys: str, parse: Callable[[object], Any], secret: bool = False) -> Any:
    """Declare a record field read from payload key(s) ``keys`` with ``parse``."""
    return field(default=None, repr=not secret, metadata={_KEYS: keys, _PARSE: parse})


def wiring(
    declared: Field[Any],
) -> tuple[tuple[str, ...], Callable[[object], Any]] | None:
    """The payload keys a field is read from and its parser; ``None`` if not wired."""
    if _KEYS not in declared.metadata:
        return None
    return declared.metadata[_KEYS], declared.metadata[_PARSE]


def _number(key: str) -> Any:
    return wire(key, parse=parse_float)


def _code(key: str) -> Any:
    return wire(key, parse=parse_int)


def _setting(setting: settings.Setting) -> Any:
    return wire(setting.wire_key, parse=setting.parse)


def _text(key: str, *, secret: bool = False) -> Any:
    return wire(key, parse=parse_str, secret=secret)


# A parser's answers for the strings it has already read. The battery repeats most
# values ("0", "", "false", the same firmware versions) in every frame and every history
# row; a dict hit costs a fraction of a parser call (an int() or float() that fails costs
# most: it raises). Bounded so that a peer sending endless new values costs no memory.
CACHE_LIMIT: Final = 4096
CACHED_LENGTH: Final = 32


class _Memo(dict[object, Any]):
    """A parser's cache: ``memo[raw]`` is ``parse(raw)``, misses come to ``__missing__``.

    Only strings are stored, so ``1``, ``1.0`` and ``True`` (equal keys) never meet
    each other's answer; an array or object raises ``TypeError`` (unhashable).
    """

    __slots__ = ("_parse",)

    def __init__(self, parse: Callable[[object], Any]) -> None:
        super().__init__()
        self._parse = parse

    def __missing__(self, raw: object) -> Any:
        value = self._parse(raw)
        if type(raw) is str and len(raw) <= CACHED_LENGTH:
            if len(self) >= CACHE_LIMIT:
                self.clear()
            self[raw] = value
        return value


_MEMOS: dict[Callable[[object], Any], _Memo] = {}
# Timestamps differ in every record: remembering them would only churn the cache.
UNCACHED: Final = frozenset({parse_time})
_ANY_MEMO: Final = _Memo(parse_any)
UNSEEN: Final = object()
"""What ``memo.get(raw, UNSEEN)`` answers for a string not read before."""


def memo(parse: Callable[[object], Any]) -> _Memo:
    """The one memo of ``parse``: the builders and the general loop share it."""
    found = _MEMOS.get(parse)
    if found is None:
        found = _MEMOS[parse] = _Memo(parse)
    return found


# Payload key → (field name, parser, the parser's cache).
type _Lookup = dict[str, tuple[str, Callable[[object], Any], _Memo | None]]
_LOOKUPS: dict[type, _Lookup] = {}


def _lookup(cls: type) -> _Lookup:
    """Payload key → (field name, parser, cache), built once per record type."""
    lookup = _LOOKUPS.get(cls)
    if lookup is None:
        lookup = _LOOKUPS[cls] = {}
        for declared in fields(cls):
            wired = wiring(declared)
            if wired is None:
                continue
            keys, parse = wired
            cache = None if parse in UNCACHED else memo(parse)
            lookup.update(dict.fromkeys(keys, (declared.name, parse, cache)))
    return lookup


def build_general[R](
    cls: type[R], data: Mapping[str, object], known: Mapping[str, object]
) -> R:
    """The reference: one pass in payload order, the first alias present wins.

    Unconsumed or unparsable keys land in ``extra``; ``known`` gives the values of
    fields not read from the payload.
    """
    lookup = _lookup(cls)
    kwargs: dict[str, object] = dict(known)
    extra: dict[str, Value] = {}
    for key, raw in data.items():
        spec = lookup.get(key)
        if spec is None or spec[0] in kwargs:  # unknown, or an alias already read
            extra[key] = _typed_any(raw)
            continue
        name, parse, cache = spec
        value = cache[raw] if cache is not None and type(raw) is str else parse(raw)
        kwargs[name] = value
        if value is None and raw is not None and raw != "":
            extra[key] = parse_any(raw)  # kept visible, as sent
    kwargs["extra"] = extra
    return cast(Callable[..., R], cls)(**kwargs)


def _typed_any(raw: object) -> Value:
    return cast(Value, _ANY_MEMO[raw]) if type(raw) is str else parse_any(raw)


# Per record type, the last payload layout seen (its keys in order) and which of them
# no field reads: a battery sends the same keys in every system report, and a history
# upload the same header on every row, so the layout is worked out once.
_LAYOUTS: dict[frozenset[str], tuple[tuple[str, ...], list[str]]] = {}


def unread_values(
    data: Mapping[str, object], wired: frozenset[str], unread: list[str]
) -> dict[str, Value]:
    """A record's ``extra``: the keys it does not read or could not parse, in order.

    ``wired`` are the keys its fields read, ``unread`` those whose value a parser
    refused (kept visible, as sent). Values are typed as well as can be.
    """
    keys = tuple(data)
    layout = _LAYOUTS.get(wired)
    if layout is not None and layout[0] == keys:
        order = layout[1]
    else:
        order = [k for k in keys if k not in wired]
        _LAYOUTS[wired] = (keys, order)
    if unread:
        marked = {*order, *unread}
        order = [k for k in keys if k in marked]
    if not order:
        return {}
    try:
        return dict(
            zip(
                order,
                map(_ANY_MEMO.__getitem__, map(data.__getitem__, order)),
                strict=True,
            )
        )
    except TypeError:  # an array or object inside (nested JSON, the strict parser's)
        return {k: _typed_any(data[k]) for k in order}


def slot_setter(cls: type, name: str) -> Callable[[object, object], None]:
    """What sets field ``name`` of a ``cls`` made by ``object.__new__``.

    A frozen record's ``__init__`` fills its slots the same way, after matching
    keyword arguments, which a builder that knows every field has no need for.
    """
    return cast(Callable[[object, object], None], getattr(cls, name).__set__)


@dataclass(frozen=True, slots=True, kw_only=True)
class PowerRecord:
    """The power flows every timed record carries (realtime, detailed, history)."""

    serial: str | None = _text("SN")
    time: datetime | None = wire("Time", parse=parse_time)
    ppv1: float | None = _number("Ppv1")
    ppv2: float | None = _number("Ppv2")
    preal_l1: float | None = _number("PrealL1")
    preal_l2: float | None = _number("PrealL2")
    preal_l3: float | None = _number("PrealL3")
    pmeter_l1: float | None = _number("PmeterL1")
    pmeter_l2: float | None = _number("PmeterL2")
    pmeter_l3: float | None = _number("PmeterL3")
    pmeter_dc: float | None = _number("PmeterDC")
    pbat: float | None = _number("Pbat")
    soc: float | None = _number("SOC")
    extra: Mapping[str, Value] = field(default_factory=dict)

    @property
    def pv_power(self) -> float | None:
        """DC PV power of both strings on the hybrid inverter."""
        return _sum(self.ppv1, self.ppv2)

    @property
    def inverter_power(self) -> float | None:
        """Inverter AC output over all phases."""
        return _sum(self.preal_l1, self.preal_l2, self.preal_l3)

    @property
    def grid_power(self) -> float | None:
        """Grid meter over all phases: positive imports, negative exports."""
        return _sum(self.pmeter_l1, self.pmeter_l2, self.pmeter_l3)

    @property
    def house_load(self) -> float | None:
        """Inverter output + grid import + AC-coupled PV (checked in docs/protocol.md)."""
        inverter, grid = self.inverter_power, self.grid_power
        if inverter is None or grid is None:
            return None
        return inverter + grid + (self.pmeter_dc or 0.0)


def _sum(*parts: float | None) -> float | None:
    present = [p for p in parts if p is not None]
    return sum(present) if present else None


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeRecord(PowerRecord):
    """Command 16, pushed every ~10 s."""

    apparent_power: float | None = _number("Sva")
    reactive_power_ac: float | None = _number("VarAC")
    reactive_power_dc: float | None = _number("VarDC")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetailedRecord(PowerRecord):
    """Command 5, and every row of a command-12 history upload."""

    upv1: float | None = wire("Upv1", "Vpv1", parse=parse_float)
    upv2: float | None = wire("Upv2", "Vpv2", parse=parse_float)
    ua: float | None = _number("Ua")
    ub: float | None = _number("Ub")
    uc: float | None = _number("Uc")
    fac: float | None = _number("Fac")
    ubus: float | None = _number("Ubus")
    tinv: float | None = _number("Tinv")
    pac_l1: float | None = _number("PacL1")
    pac_l2: float | None = _number("PacL2")
    pac_l3: float | None = _number("PacL3")
    inv_work_mode: int | None = _code("InvWorkMode")
    epv_total: float | None = _number("EpvTotal")
    e_input: float | None = _number("Einput")
    e_output: float | None = _number("Eoutput")
    e_charge: float | None = _number("Echarge")
    e_discharge: float | None = _number("EDischarge")
    e_grid_charge: float | None = _number("EGridCharge")
    bat_v: float | None = _number("BatV")
    bat_c: float | None = _number("BatC")
    inv_bat_v: float | None = _number("InvBatV")
    pcharge: float | None = _number("Pcharge")
    pdischarge: float | None = _number("Pdischarge")
    bms_num: int | None = _code("BmsNum")
    vcell_low: PackedCell | None = wire("VcellLow", parse=parse_packed_voltage)
    vcell_high: PackedCell | None = wire("VcellHigh", parse=parse_packed_voltage)
    tcell_low: PackedCell | None = wire("TcellLow", parse=parse_packed_temperature)
    tcell_high: PackedCell | None = wire("TcellHigh", parse=parse_packed_temperature)
    flag_bms: int | None = _code("FlagBms")
    bms_work: int | None = _code("BmsWork")
    bms_relay: int | None = _code("BmsRelay")
    bmu_relay: int | None = _code("BmuRelay")
    bms_shutdown: int | None = _code("BmsShutdown")
    bat_c1: float | None = _number("BatC1")
    bat_c2: float | None = _number("BatC2")
    bat_c3: float | None = _number("BatC3")
    bat_c4: float | None = _number("BatC4")
    bat_c5: float | None = _number("BatC5")
    bat_c6: float | None = _number("BatC6")
    soc1: float | None = _number("SOC1")
    soc2: float | None = _number("SOC2")
    soc3: float | None = _number("SOC3")
    soc4: float | None = _number("SOC4")
    soc5: float | None = _number("SOC5")
    soc6: float | None = _number("SOC6")
    err_inv: int | None = _code("ErrInv")
    war_inv: int | None = _code("WarInv")
    err_ems: int | None = _code("ErrEms")
    err_bms: int | None = _code("ErrBms")
    err_meter: int | None = _code("ErrMeter")
    err_backup_box: int | None = _code("ErrBackupBox")
    ems_status: str | None = _text("EmsStatus")
    dispatch_switch: int | None = _code("DispatchSwitch")
    pdispatch: float | None = _number("Pdispatch")
    dispatch_soc: float | None = _number("DispatchSoc")
    dispatch_mode: int | None = _code("DispatchMode")
    pmeter_dc_l1: float | None = _number("PMeterDCL1")
    pmeter_dc_l2: float | None = _number("PMeterDCL2")
    pmeter_dc_l3: float | None = _number("PMeterDCL3")

    @property
    def module_socs(self) -> tuple[float | None, ...]:
        """State of charge of each installed module (``BmsNum`` of them)."""
        socs = (self.soc1, self.soc2, self.soc3, self.soc4, self.soc5, self.soc6)
        return socs[: max(0, min(self.bms_num or 0, len(socs)))]

    @property
    def error_codes(self) -> dict[str, int]:
        """The non-zero error and warning codes, by key."""
        codes = {
            "ErrInv": self.err_inv,
            "WarInv": self.war_inv,
            "ErrEms": self.err_ems,
            "ErrBms": self.err_bms,
            "ErrMeter": self.err_meter,
            "ErrBackupBox": self.err_backup_box,
        }
        return {key: code for key, code in codes.items() if code}


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemReport:
    """Command 4 (and the settings block of a command-3 answer).

    Owner details and component serials are kept for the server's redaction and the
    control work, but never shown by ``repr``.
    """

    serial: str | None = _text("SN")
    inverter_model: str | None = _text("Minv")
    battery_model: str | None = _text("Mbat")
    pv_capacity: float | None = _number("Popv")
    inverter_power: float | None = _number("Poinv")
    battery_capacity: float | None = _number("Cobat")
    usable_capacity: float | None = _number("Uscapacity")
    ems_version: str | None = _text("EMSVersion")
    bms_version: str | None = _text("BMSVersion")
    inverter_version: str | None = _text("InvVersion")
    inverter_hw_version: str | None = _text("InvHWVersion")
    slave_version: str | None = _text("SlaveVersion")
    firmware_version: str | None = _text("FirmwareVersion")
    net_type: str | None = _text("NetType")
    wifi_sw: str | None = _text("WifiSW")
    wifi_hw: str | None = _text("WifiHW")
    country: str | None = _text("Country")
    # The settings we change are declared once, in settings.py; the report reads them
    # the same way the control does.
    grid_charge: bool | None = _setting(settings.GRID_CHARGING)
    discharge_control: bool | None = _setting(settings.DISCHARGE_CONTROL)
    charge_stop_soc: float | None = _setting(settings.CHARGE_STOP_SOC)
    discharge_cutoff_soc: float | None = _setting(settings.DISCHARGE_CUTOFF_SOC)
    export_limit: float | None = _number("SetFeed")
    address: str | None = _text("Address", secret=True)
    zip_code: str | None = _text("ZipCode", secret=True)
    phone_number: str | None = _text("PhoneNumber", secret=True)
    license: str | None = _text("License", secret=True)
    inverter_serial: str | None = _text("InvSN", secret=True)
    wifi_serial: str | None = _text("WifiSN", secret=True)
    extra: Mapping[str, Value] = field(default_factory=dict, repr=False)
    # The payload exactly as sent (types included): a configuration answer is built from
    # it so that only what the user changed differs (protocol/codec/settings.py).
    raw: Mapping[str, object] = field(default_factory=dict, repr=False, compare=False)

    @property
    def battery_serials(self) -> tuple[str, ...]:
        """Module serials ``BatterySN1…18`` that are filled in."""
        serials = (self.extra.get(f"BatterySN{n}") for n in range(1, 19))
        return tuple(str(s) for s in serials if s not in (None, "", 0, "0"))
