"""The protocol package must stay free of Home Assistant (it could live on PyPI)."""

from __future__ import annotations

import ast
from pathlib import Path

from custom_components.alphaess_local import protocol

PACKAGE = Path(protocol.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_protocol_never_imports_home_assistant() -> None:
    files = sorted(PACKAGE.glob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert not name.startswith("homeassistant"), (path.name, name)
            # Relative imports must stay inside the package.
            assert not name.startswith(".."), (path.name, name)
