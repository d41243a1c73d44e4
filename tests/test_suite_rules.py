"""The test suite's own rules: test modules never import each other (shared helpers live in kits and fixtures),
and nothing waits by sleeping a fixed time unless the sleep is the behaviour under test and says so."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
WAITS = TESTS / "waits.py"  # the one place that polls: it sleeps between checks of a condition
NOT_A_WAIT = "# not a wait:"  # how a sleep that is the behaviour (a random kill moment, a steady writer) says so


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.relative_to(TESTS).parts)


def _imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_a_test_module():
    test_modules = {p.stem for p in _modules() if p.name.startswith("test_")}
    assert len(test_modules) > 50  # the suite was found: the check is not vacuous
    crossing = {
        str(path.relative_to(TESTS)): sorted(_imported(ast.parse(path.read_text(encoding="utf-8"))) & test_modules)
        for path in _modules()
    }
    crossing = {path: names for path, names in crossing.items() if names}
    assert not crossing, f"move what these share into a *_kit.py module or a fixture: {crossing}"


def test_every_fixed_sleep_says_why_it_is_not_a_wait():
    sleeps = []
    for path in _modules():
        if path == WAITS:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None) if isinstance(node, ast.Call) else None
            if name == "sleep":
                if NOT_A_WAIT not in lines[node.lineno - 1]:
                    sleeps.append(f"{path.relative_to(TESTS)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not sleeps, f"wait for a condition (tests/waits.py) instead, or say '{NOT_A_WAIT} …' on the line: {sleeps}"
