"""The package's layering, read from the source (module-level and deferred imports, not
those under ``if TYPE_CHECKING``):
imports point one way, ``external``/``tracewin`` (formats) <- ``engine`` <- ``simulators``
<- ``runtime`` <- ``rl``/``tune`` <- ``cli``, and no package has an import circle."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import accelerate_rl

ROOT = Path(accelerate_rl.__file__).parent
#: Layer of each top-level part; a module may import only its own layer or lower ones.
LAYERS = {
    "external": 0,
    "tracewin": 1,
    "examples": 1,
    "engine": 2,
    "simulators": 3,
    "runtime": 4,
    "rl": 5,
    "tune": 5,
    "cli": 6,
    "__init__": 6,
}


def _graph() -> dict[str, set[str]]:
    """Module (dotted, without ``accelerate_rl.``) -> the project modules it imports."""
    graph: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        tree = ast.parse(path.read_text())
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING")
            for sub in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:  # annotations only: not an import at run time
                continue
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".") if package and package != "__init__" else []
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                deps.add(".".join([*base, *([node.module] if node.module else [])]))
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "accelerate_rl."
            ):
                deps.add(node.module.removeprefix("accelerate_rl."))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("accelerate_rl."):
                        deps.add(alias.name.removeprefix("accelerate_rl."))
        graph[name] = {d for d in deps if d}
    return graph


GRAPH = _graph()


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("package", sorted({_top(m) for m in GRAPH if "." in m}))
def test_a_package_has_no_import_circle(package):
    inside = {m: {d for d in deps if _top(d) == package} for m, deps in GRAPH.items()}
    inside = {m: d for m, d in inside.items() if _top(m) == package}
    list(graphlib.TopologicalSorter(inside).static_order())  # CycleError names the circle


def test_imports_point_down_the_layers():
    upward = [
        f"{m} imports {d}"
        for m, deps in GRAPH.items()
        for d in deps
        if LAYERS.get(_top(d), 0) > LAYERS[_top(m)]
    ]
    assert not upward, upward


def test_the_reference_track_lives_apart_from_the_rf_elements():
    assert "engine.reference" in GRAPH and "engine.rf" in GRAPH
    assert not any(d.startswith("engine.reference") for d in GRAPH["engine.rf"])
