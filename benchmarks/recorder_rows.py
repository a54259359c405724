"""State rows per hour that one battery costs the recorder, before and after #31.

Run: ``.venv/bin/python -m benchmarks.recorder_rows [--quick] [--hours N]``.

The recorder writes a row for every ``state_changed`` event, and Home Assistant fires
one only when an entity's state string (or its attributes) differs from the last one
written; a push that repeats a value costs no row. So the rows are counted here as the
state strings change: the simulated battery's readings (``simulator/readings.py``, the
model and the formatting the live battery pushes) at the real cadence (realtime every
10 s, a detailed record every 5 min, a system report every 30 min) on a simulated
clock, typed by the codec, applied to a ``BatteryState`` as the coordinator applies
them, and read by every sensor description the way the entity reads it and Home
Assistant turns it into a string. A day of pushes takes seconds, not a day.

*before*: every sensor enabled, values as sent; *0.6 defaults*: the sensors enabled by
default until #31 (the halves of battery and grid power on, apparent and reactive
power off), values as sent; *after*: the sensors enabled by default now, values
rounded to what the battery measures; *after, no inverter power*: the same without
inverter power, a figure for the question whether it should be off too.
The binary sensors and the event entity are left out: the change touches neither, and
they change a few times a day. Sensors have no attributes that change with a push.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
import json
import sys
import time

from homeassistant.helpers.entity import FLOAT_PRECISION

from custom_components.alphaess_local.battery import BatteryState
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    Frame,
    RealtimeRecord,
    SystemReport,
)
from custom_components.alphaess_local.protocol.codec.frame import Command
from custom_components.alphaess_local.protocol.codec.messages import decode_message
from custom_components.alphaess_local.protocol.modbus.registers import (
    RegisterMap,
    encode_identity,
    encode_live,
)
from custom_components.alphaess_local.protocol.simulator.model import BatteryModel
from custom_components.alphaess_local.protocol.simulator.obedience import (
    BatteryControl,
)
from custom_components.alphaess_local.protocol.simulator.readings import (
    Identity,
    detailed_record,
    realtime_values,
    system_report,
)
from custom_components.alphaess_local.sensor import (
    CLOUD_RECORDS_ONLY,
    SENSORS,
    AlphaEssSensorEntityDescription,
    Value,
    shown_value,
)

from . import smoke

PUSH = timedelta(seconds=10)
DETAIL_EVERY = 30  # pushes: 5 min
REPORT_EVERY = 180  # pushes: 30 min
# Midnight, so a day run has its night and its day; a quick run a few minutes of it.
START = datetime(2026, 6, 21)
NIGHT = range(5)
# Enabled by default until #31.
HALVES = frozenset(
    {
        "battery_charge_power",
        "battery_discharge_power",
        "grid_import_power",
        "grid_export_power",
    }
)  # hours of the battery's clock counted as night


def ha_string(value: Value) -> str:
    """What Home Assistant writes as the state (``Entity._stringify_state``)."""
    if value is None:
        return "unknown"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.{FLOAT_PRECISION}}"
    return str(value)


def _decode[M](command: Command, payload: Mapping[str, object], kind: type[M]) -> M:
    message = decode_message(Frame(1, command, json.dumps(payload).encode()))
    assert isinstance(message, kind), message
    return message


type Read = Callable[[AlphaEssSensorEntityDescription, BatteryState], Value]


def _raw(description: AlphaEssSensorEntityDescription, state: BatteryState) -> Value:
    return description.value_fn(state)


def count_rows(
    hours: float,
) -> dict[str, tuple[Counter[str], Counter[str]]]:
    """Per way of showing: state rows by hour of the day, and by sensor."""
    model = BatteryModel(START)
    identity = Identity()
    settings = BatteryControl(model).settings
    state = BatteryState(identity.serial)
    on = [d for d in SENSORS if d.entity_registry_enabled_default]
    ways: dict[str, tuple[Iterable[AlphaEssSensorEntityDescription], Read]] = {
        "before": (SENSORS, _raw),
        "0.6 defaults": (
            [
                d
                for d in SENSORS
                if d.entity_registry_enabled_default or d.key in HALVES
            ],
            _raw,
        ),
        "after": (on, shown_value),
        "after, no inverter power": (
            [d for d in on if d.key != "inverter_power"],
            shown_value,
        ),
    }
    last: dict[str, dict[str, str]] = {way: {} for way in ways}
    rows = {way: (Counter[str](), Counter[str]()) for way in ways}
    for push in range(round(hours * 3600 / PUSH.total_seconds())):
        now = START + push * PUSH
        received_at = now.replace(tzinfo=UTC)  # the battery keeps Home Assistant's UTC
        model.advance_to(now)
        sample = model.snapshot()
        if push % REPORT_EVERY == 0:
            report = system_report(identity, model, settings)
            state.report = _decode(Command.SYSTEM_REPORT, report, SystemReport)
        records: list[RealtimeRecord | DetailedRecord] = []
        if push % DETAIL_EVERY == 0:
            payload = detailed_record(sample, identity.serial)
            records.append(_decode(Command.DETAILED_RECORD, payload, DetailedRecord))
        payload = realtime_values(sample, identity.serial)
        records.append(_decode(Command.REALTIME, payload, RealtimeRecord))
        for record in records:
            assert record.time is not None
            state.admit(record.time, received_at)
            if isinstance(record, RealtimeRecord):
                state.apply_realtime(record, received_at)
            else:
                state.apply_detail(record, received_at)
            if state.connected_since is None:
                state.connected_since = received_at
            state.last_seen = received_at
            state.connected = True
            # Every record is pushed to the entities, each writes its state.
            for way, (descriptions, read) in ways.items():
                seen = last[way]
                by_hour, by_sensor = rows[way]
                for description in descriptions:
                    if not description.exists_fn(state):
                        continue
                    shown = ha_string(read(description, state))
                    before = seen.get(description.key)
                    seen[description.key] = shown
                    if before is not None and before != shown:  # first state aside
                        by_hour[f"{now.hour:02d}"] += 1
                        by_sensor[description.key] += 1
    return rows


def count_modbus_rows(hours: float, interval: float) -> Counter[str]:
    """State rows by sensor of an entry reading the inverter over Modbus (#32).

    Every poll reads the live blocks: a realtime and a detailed record each time,
    through the register map the reader uses, so the detail sensors move every poll
    where the cloud link's move every 5 min. Sensors no register feeds are not
    created (``CLOUD_RECORDS_ONLY``). The model moves in 10 s steps: polls faster
    than that find nothing new in it, where a real inverter's values move between
    any two polls, so a figure below 10 s is a floor.
    """
    model = BatteryModel(START)
    identity = Identity()
    registers = RegisterMap()
    state = BatteryState(identity.serial)
    state.report = registers.identity(
        encode_identity(identity.serial, capacity_kwh=model.capacity_kwh),
        serial=identity.serial,
    )
    shown = [
        d
        for d in SENSORS
        if d.entity_registry_enabled_default and d.key not in CLOUD_RECORDS_ONLY
    ]
    seen: dict[str, str] = {}
    rows = Counter[str]()
    for poll in range(round(hours * 3600 / interval)):
        now = START + timedelta(seconds=poll * interval)
        received_at = now.replace(tzinfo=UTC)
        model.advance_to(now)
        realtime, detail = registers.live(
            encode_live(model.snapshot()), serial=identity.serial, at=now
        )
        for record in (realtime, detail):
            assert record.time is not None
            state.admit(record.time, received_at)
            if isinstance(record, RealtimeRecord):
                state.apply_realtime(record, received_at)
            else:
                state.apply_detail(record, received_at)
            state.last_seen = received_at
            for description in shown:
                if not description.exists_fn(state):
                    continue
                value = ha_string(shown_value(description, state))
                before = seen.get(description.key)
                seen[description.key] = value
                if before is not None and before != value:
                    rows[description.key] += 1
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument(
        "--modbus",
        type=float,
        nargs="*",
        metavar="SECONDS",
        help="count a Modbus entry's rows instead, at these poll intervals",
    )
    smoke.add_flag(parser)
    args = parser.parse_args(argv)
    smoke.announce(quick=args.quick)
    hours = 0.1 if args.quick else args.hours
    if args.modbus is not None:
        for interval in args.modbus or [10.0]:
            by_sensor = count_modbus_rows(hours, interval)
            total = sum(by_sensor.values())
            polls = hours * 3600 / interval
            print(
                f"Modbus every {interval:g} s: {total / hours:5.0f} state rows/h, "
                f"{total / hours * 24:6.0f}/day, {total / polls:.2f} a poll; most: "
                + ", ".join(
                    f"{key} {n / hours:.0f}" for key, n in by_sensor.most_common(6)
                )
            )
        return 0
    began = time.perf_counter()
    rows = count_rows(hours)
    took = time.perf_counter() - began
    print(f"One simulated battery, {hours:g} h of pushes (simulated in {took:.1f} s)")
    totals = {way: sum(by_hour.values()) for way, (by_hour, _) in rows.items()}
    for way, (by_hour, by_sensor) in rows.items():
        night = sum(by_hour[f"{h:02d}"] for h in NIGHT)
        night_hours = min(len(NIGHT), hours)
        print(
            f"{way:>24}: {totals[way] / hours:5.0f} state rows/h"
            + (
                f", night (00-05) {night / night_hours:6.0f}/h"
                if not args.quick
                else ""
            )
            + "; most: "
            + ", ".join(f"{key} {n / hours:.0f}" for key, n in by_sensor.most_common(6))
        )
    for anchor in ("before", "0.6 defaults"):
        if totals[anchor]:
            print(
                f"ratio after/{anchor} = {totals['after'] / totals[anchor]:.2f} "
                f"({totals[anchor] / max(totals['after'], 1):.2f}x fewer rows)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
