"""The protocol package must stay free of Home Assistant (it could live on PyPI), and
its codec free of any I/O: every module, in every subpackage, is read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from custom_components.alphaess_local import protocol

PACKAGE = Path(protocol.__file__).parent
CODEC = PACKAGE / "codec"
# The Modbus register map: sans-IO like the codec, whatever transport reads the words.
SANS_IO_MODBUS = (PACKAGE / "modbus" / "registers.py",)
MODULES = sorted(PACKAGE.rglob("*.py"))


def module_name(path: Path) -> str:
    """Dotted name of ``path`` inside the library: ``codec.frame``, ``""`` for the top."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative ones resolved against the library.

    A relative import comes back as ``.codec.frame`` (dot, then its name inside the
    library) or, if it climbs out of the library, with the ``..`` it still has left.
    """
    here = path.relative_to(PACKAGE).parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add(node.module or "")
        elif isinstance(node, ast.ImportFrom):
            up = node.level - 1
            if up > len(here):
                names.add("." * (up - len(here) + 1) + (node.module or ""))
                continue
            base = ".".join(
                (*here[: len(here) - up], *([node.module] if node.module else []))
            )
            targets = (
                [base]
                if node.module
                else [f"{base}.{a.name}".lstrip(".") for a in node.names]
            )
            names.update("." + target for target in targets)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_never_imports_home_assistant(path: Path) -> None:
    assert len(MODULES) > 30  # the walk reaches into the subpackages
    for name in imported_modules(path):
        assert not name.startswith(("homeassistant", "custom_components")), name
        # Relative imports must stay inside the package.
        assert not name.startswith(".."), name


@pytest.mark.parametrize(
    "path", sorted(CODEC.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_codec_is_sans_io(path: Path) -> None:
    """Any transport can drive the codec: it neither imports asyncio nor reaches out of
    codec/ into the server or the simulator, which would bring asyncio with them."""
    for name in imported_modules(path):
        assert name.split(".")[0] != "asyncio", name
        if name.startswith("."):
            assert name == ".codec" or name.startswith(".codec."), name


@pytest.mark.parametrize(
    "path", SANS_IO_MODBUS, ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_modbus_register_map_is_sans_io(path: Path) -> None:
    """The register map turns words into records for any transport: no asyncio, no
    pymodbus (an optional extra), nothing of the server or the simulator; only the
    codec's records and settings."""
    for name in imported_modules(path):
        assert name.split(".")[0] not in ("asyncio", "pymodbus", "socket"), name
        if name.startswith("."):
            assert name.startswith(".codec."), name
