"""The package's shape: the stages do no I/O, no module imports its way back to itself, no file is a grab-bag.

Read from the source (``ast``), imports inside functions included: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "vectra_pipeline"
# The stages: frames in, frames out. I/O belongs to storage, landing_files, warehouse, datasets.publish/registry/…
PURE = ("bronze", "silver", "gold", "datasets/contents.py", "datasets/splits.py", "datasets/identity.py")
IO_MODULES = {"os", "pathlib", "shutil", "io", "tempfile", "glob", "fcntl", "duckdb", "dagster", "pyarrow.parquet",
              "vectra_pipeline.storage", "vectra_pipeline.warehouse", "vectra_pipeline.landing_files",
              "capture_agent.landing.segments"}
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports (``from a import b`` counts as ``a.b`` when that is a module, else ``a``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                qualified = f"{node.module}.{alias.name}"
                names.add(qualified if qualified in MODULES else node.module)
    return names


def _is_pure(name: str) -> bool:
    relative = MODULES[name].relative_to(PACKAGE).as_posix()
    return any(relative == entry or relative.startswith(entry + "/") for entry in PURE)


@pytest.mark.parametrize("name", [n for n in MODULES if _is_pure(n)])
def test_a_stage_does_no_io(name):
    io = sorted(i for i in _imports(MODULES[name]) if any(i == m or i.startswith(m + ".") for m in IO_MODULES))
    calls = [n for n in ast.walk(ast.parse(MODULES[name].read_text(encoding="utf-8")))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "open"]
    assert not io and not calls, f"{name} imports {io} / opens files: stages are polars in, polars out; I/O goes through vectra_pipeline.storage"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node → the nodes it depends on) as a path that ends where it starts, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        for target in sorted(graph.get(node, ())):
            if target in path:
                return path[path.index(target):] + [target]
            if target not in done and (cycle := visit(target, [*path, target])):
                return cycle
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done and (cycle := visit(node, [node])):
            return cycle
    return None


def test_no_import_cycle():
    graph = {name: {i for i in _imports(path) if i in MODULES and i != name} for name, path in MODULES.items()}
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' → '.join(cycle)}"


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


@pytest.mark.parametrize("name", list(MODULES))
def test_no_module_is_a_grab_bag(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{name} has {lines} lines: split it along its jobs"
