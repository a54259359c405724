"""No two packages of the integration depend on each other, directly or round about.

A cycle between packages means neither can be read, tested or moved alone. The graph
is built from the source (every ``import``, ``TYPE_CHECKING`` ones too), without
importing anything. A package without subpackages (``battery/``, ``backfill/``) is one
node, whatever its modules import; the modules of a package that holds others (the
integration's top, where ``coordinator.py`` wires the parts together, or the library's
top, where the CLI drives the simulator) are nodes of their own, since such a package
is a room of rooms, not a room.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from custom_components import alphaess_local

ROOT = Path(alphaess_local.__file__).parent
ABSOLUTE = "custom_components.alphaess_local"


def _module_name(path: Path) -> tuple[str, ...]:
    """Dotted parts of ``path`` inside the integration (a package is its own name)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_package(parts: tuple[str, ...]) -> bool:
    return (ROOT.joinpath(*parts) / "__init__.py").is_file()


def _holds_packages(parts: tuple[str, ...]) -> bool:
    return any(
        (sub / "__init__.py").is_file() for sub in ROOT.joinpath(*parts).iterdir()
    )


def _node(parts: tuple[str, ...]) -> str:
    """The graph node a module or package (dotted ``parts``) belongs to."""
    # The deepest package holding it (or itself, if it is one).
    end = next(e for e in range(len(parts), -1, -1) if _is_package(parts[:e]))
    package = parts[:end]
    if not _holds_packages(package):
        return ".".join(package)
    return ".".join(parts) or "__init__"


def _imports(path: Path) -> Iterator[tuple[str, ...]]:
    """What ``path`` imports from inside the integration, as dotted parts."""
    here = path.relative_to(ROOT).parts[:-1]
    package = _module_name(path) if path.name == "__init__.py" else here
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = base + tuple(node.module.split(".") if node.module else ())
            elif node.module and node.module.startswith(ABSOLUTE):
                target = tuple(node.module.split("."))[2:]
            else:
                continue
            # ``from . import battery`` imports a module, not a name of the package.
            for alias in node.names:
                sub = (*target, alias.name)
                if (
                    ROOT.joinpath(*sub).is_dir()
                    or ROOT.joinpath(*sub[:-1]).joinpath(f"{alias.name}.py").is_file()
                ):
                    yield sub
                else:
                    yield target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(ABSOLUTE):
                    yield tuple(alias.name.split("."))[2:]


def package_graph() -> dict[str, set[str]]:
    """Node to the nodes it imports from, self-edges left out."""
    graph: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = _node(_module_name(path))
        edges = graph.setdefault(source, set())
        edges.update(_node(t) for t in _imports(path) if _node(t) != source)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as the path around it, or ``None``."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in on_path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if cycle := visit(start):
            return cycle
    return None


def test_graph_sees_the_packages() -> None:
    """The walk finds the packages and the edges between them it must judge."""
    graph = package_graph()
    assert {"battery", "backfill", "protocol", "coordinator"} <= graph.keys()
    assert "battery" in graph["backfill"]
    assert "protocol" in graph["battery"]
    assert "battery" in graph["coordinator"]


def test_cycle_is_found() -> None:
    """The check itself reports a cycle (it would otherwise pass on anything)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_between_packages() -> None:
    """``battery/`` once imported ``backfill.debt`` while ``backfill/`` imported it."""
    assert find_cycle(package_graph()) is None
