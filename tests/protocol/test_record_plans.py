"""record_plans.py builds every record type from its field declarations alone.

There is no generated code left to drift from the declarations: a plan is made of them
at import. That the plans build what the general loop builds, on random payloads, is
tests/protocol/test_messages.py's business; these are the rules of the plan itself.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
import json
from pathlib import Path

import pytest

from custom_components.alphaess_local import protocol
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    RealtimeRecord,
    SystemReport,
)
from custom_components.alphaess_local.protocol.codec.record_plans import BUILDERS, plan
from custom_components.alphaess_local.protocol.codec.records import (
    build_general,
    wire,
)
from custom_components.alphaess_local.protocol.codec.values import (
    Value,
    parse_float,
    parse_str,
)

PACKAGE = Path(protocol.__file__).parent
FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_every_record_type_has_its_builder() -> None:
    assert set(BUILDERS) == {RealtimeRecord, DetailedRecord, SystemReport}


def test_no_code_is_written_at_run_time() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        called = {
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not called & {"exec", "eval", "compile"}, path.name


@pytest.mark.parametrize(
    ("cls", "fixture"),
    [
        (RealtimeRecord, "1-1-16.json"),
        (DetailedRecord, "1-1-5.json"),
        (SystemReport, "1-1-4.json"),
    ],
)
def test_a_capture_is_built_as_the_general_loop_builds_it(
    cls: type, fixture: str
) -> None:
    data = json.loads((FIXTURES / fixture).read_text())
    data["Unheard"] = "7"  # a key no field reads lands in extra
    data[next(iter(data))] = "not a number"  # a value its parser refuses, too
    built = BUILDERS[cls](data, {})
    reference = build_general(cls, data, {})
    assert built == reference
    assert repr(built) == repr(reference)
    assert built.extra == reference.extra  # type: ignore[attr-defined]
    assert list(built.extra) == list(reference.extra)  # type: ignore[attr-defined]
    assert built.extra["Unheard"] == 7  # type: ignore[attr-defined]


def test_aliases_read_the_one_present_and_leave_two_to_the_general_loop() -> None:
    build = BUILDERS[DetailedRecord]
    assert build({"Vpv1": "256.2"}, {}).upv1 == 256.2  # type: ignore[union-attr,attr-defined]
    assert build({"Upv1": "251.0"}, {}).upv1 == 251.0  # type: ignore[union-attr,attr-defined]
    assert build({"Upv1": "251.0", "Vpv1": "256.2"}, {}) is None


def test_given_fields_come_from_known_or_their_default() -> None:
    build = BUILDERS[SystemReport]
    raw = {"SN": "AL9002021030042"}
    assert build(raw, {"raw": raw}).raw is raw  # type: ignore[union-attr,attr-defined]
    assert build(raw, {}).raw == {}  # type: ignore[union-attr,attr-defined]
    # A value given for a field the payload fills is the general loop's business.
    assert build(raw, {"serial": "other"}) is None
    assert BUILDERS[RealtimeRecord]({}, {"serial": "other"}) is None


def test_a_field_the_plan_cannot_fill_is_refused_at_import() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Unfillable:
        power: float | None = wire("P", parse=parse_float)
        required: int
        extra: dict[str, Value] = field(default_factory=dict)

    with pytest.raises(TypeError, match="required"):
        plan(Unfillable)

    @dataclass(frozen=True, slots=True, kw_only=True)
    class NoExtra:
        name: str | None = wire("N", parse=parse_str)

    with pytest.raises(TypeError, match="extra"):
        plan(NoExtra)

    def none_is_zero(raw: object) -> float:
        return 0.0 if raw is None else parse_float(raw) or 0.0

    @dataclass(frozen=True, slots=True, kw_only=True)
    class NoneIsAValue:
        power: float = wire("P", parse=none_is_zero)
        extra: dict[str, Value] = field(default_factory=dict)

    with pytest.raises(TypeError, match="None"):
        plan(NoneIsAValue)
