"""The library's public API is the only door, and its modules form no import cycle."""

from __future__ import annotations

import ast
from datetime import time
from pathlib import Path

import pytest

from custom_components.alphaess_local import protocol
from custom_components.alphaess_local.protocol import (
    CHARGE_STOP_SOC,
    SETTINGS,
    Setting,
    SettingError,
    SettingKind,
    normalize,
)

from .test_isolation import imported_modules, module_name

PACKAGE = Path(protocol.__file__).parent
INTEGRATION = PACKAGE.parent


def _relative_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(level, module, names) of every relative import, TYPE_CHECKING ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.level, node.module or "", [alias.name for alias in node.names])
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level
    ]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in INTEGRATION.rglob("*.py") if PACKAGE not in p.parents),
    ids=lambda path: str(path.relative_to(INTEGRATION)),
)
def test_integration_uses_only_the_public_api(path: Path) -> None:
    # The integration's top level is one dot away, and one more per subpackage.
    top = len(path.relative_to(INTEGRATION).parts)
    for level, module, names in _relative_imports(path):
        if level != top or not module.startswith("protocol"):
            continue
        assert module == "protocol", f"{path.name} reaches into {module}"
        private = set(names) - set(protocol.__all__)
        assert not private, f"{path.name} imports {private}, not in protocol.__all__"


def test_public_api_is_importable_and_typed() -> None:
    for name in protocol.__all__:
        assert hasattr(protocol, name), name
    assert (PACKAGE / "py.typed").is_file()


def test_library_modules_import_no_cycle() -> None:
    graph = {
        module_name(path): {
            target.removeprefix(".")
            for target in imported_modules(path)
            if target.startswith(".") and target != "."
        }
        for path in PACKAGE.rglob("*.py")
    }
    # the session talks to a SessionOwner
    assert "server.server" not in graph["server.session"]

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' → '.join((*path, node))}"
        for nxt in graph.get(node, ()):
            visit(nxt, (*path, node))

    for module in graph:
        visit(module, ())


def test_settings_table_is_the_one_source() -> None:
    wire_keys = [setting.wire_key for setting in SETTINGS]
    keys = [setting.key for setting in SETTINGS]
    assert len(set(wire_keys)) == len(wire_keys) == len(set(keys)) == 12
    assert {s.kind for s in SETTINGS} == set(SettingKind)
    # The battery's own forms, read the same way the report's fields are.
    report = {"GridCharge": "False", "BatHighCap": "90.00", "TimeChaF1": "24"}
    by_key = {setting.key: setting for setting in SETTINGS}
    assert by_key["grid_charging"].read(report) is False
    assert by_key["charge_stop_soc"].read(report) == 90.0
    assert by_key["charge_window_1_start"].read(report) is None  # not an hour


@pytest.mark.parametrize(
    ("value", "held"),
    [(time(2), 2), (time(23), 23), (5, 5), (5.0, 5)],
)
def test_hours_are_whole(value: time | int | float, held: int) -> None:
    assert normalize({"TimeChaF2": value}) == {"TimeChaF2": held}


@pytest.mark.parametrize(
    ("setting", "value", "rule"),
    [
        ("TimeChaF2", time(2, 30), "whole_hours_only"),
        ("TimeDisE1", time(2, 0, 1), "whole_hours_only"),
        ("BatHighCap", time(2), "invalid_value"),
        ("BatHighCap", float("nan"), "invalid_value"),
        ("TimeChaF1", float("inf"), "invalid_value"),
        ("CtrDis", time(2), "invalid_value"),
    ],
)
def test_whole_hours_rule_lives_in_the_library(
    setting: str, value: object, rule: str
) -> None:
    with pytest.raises(SettingError) as err:
        normalize({setting: value})  # type: ignore[dict-item]
    assert err.value.key == rule


def test_ranges_come_from_the_kind() -> None:
    assert (CHARGE_STOP_SOC.minimum, CHARGE_STOP_SOC.maximum) == (0, 100)
    hour = Setting("x", "X", SettingKind.HOUR, "X")
    assert (hour.minimum, hour.maximum) == (0, 23)
