"""record_builders.py is what scripts/generate_builders.py writes from records.py.

The builders are committed so that a reader can open them; this keeps them true to the
field declarations when a field changes (that they build what the general loop builds
is tests/protocol/test_messages.py's business).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from custom_components.alphaess_local import protocol
from custom_components.alphaess_local.protocol import (
    DetailedRecord,
    RealtimeRecord,
    SystemReport,
)
from custom_components.alphaess_local.protocol.codec import records
from custom_components.alphaess_local.protocol.codec.record_builders import BUILDERS

ROOT = Path(__file__).parents[2]
GENERATOR = ROOT / "scripts" / "generate_builders.py"
PACKAGE = Path(protocol.__file__).parent


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_builders", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_builders_are_what_the_declarations_produce() -> None:
    written = _generator().render(records)
    committed = (PACKAGE / "codec" / "record_builders.py").read_text(encoding="utf-8")
    assert written == committed, "stale: run scripts/generate_builders.py"


def test_the_script_checks_the_committed_file(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The script loads the package on its own, as it does outside the tests.
    assert _generator().main(["generate_builders.py", "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


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
