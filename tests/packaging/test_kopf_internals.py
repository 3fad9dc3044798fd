"""kopf's private modules (`kopf._core`, `kopf._cogs`, `kopf._kits`, ...) are imported in one place.

mec_orchestrator/operator/kopf_compat.py documents why it needs them; anywhere else a kopf upgrade
could break us silently. import-linter cannot check this: it squashes external packages to their
top-level name, so `kopf._core.engines.peering` is just `kopf` to it. This walks the sources with
`ast` instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = (
    "mec_orchestrator",
    "edge_host_agent",
    "mec_common",
    "mec_devtools",
    "tests",
    "bench",
    "scripts",
    "examples",
)
THE_ONE_PLACE = "mec_orchestrator/operator/kopf_compat.py"
IMPORT_FUNCTIONS = {"import_module", "__import__"}


def _private(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "kopf" and len(parts) > 1 and parts[1].startswith("_")


def private_kopf_imports(tree: ast.AST) -> Iterator[str]:
    """Each `kopf._*` module that the code imports (statements and import_module calls)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if _private(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
            if _private(node.module):
                yield node.module
            elif node.module == "kopf":  # from kopf import _core
                yield from (f"kopf.{a.name}" for a in node.names if _private(f"kopf.{a.name}"))
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else None
            name = function.id if isinstance(function, ast.Name) else name
            first = node.args[0]
            if (
                name in IMPORT_FUNCTIONS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and _private(first.value)
            ):
                yield first.value


def _sources() -> Iterator[Path]:
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def test_only_kopf_compat_imports_kopf_internals() -> None:
    importers: dict[str, list[str]] = {}
    for path in _sources():
        found = sorted(set(private_kopf_imports(ast.parse(path.read_text(), str(path)))))
        if found:
            importers[path.relative_to(ROOT).as_posix()] = found
    assert set(importers) == {THE_ONE_PLACE}, importers


def test_the_walk_covers_the_sources() -> None:
    walked = {path.relative_to(ROOT).as_posix() for path in _sources()}
    assert THE_ONE_PLACE in walked
    assert "tests/packaging/test_kopf_internals.py" in walked
    assert {name.split("/")[0] for name in walked} >= {"mec_devtools", "bench", "tests"}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import kopf._cogs.structs.bodies", ["kopf._cogs.structs.bodies"]),
        ("import kopf._kits.loops as loops", ["kopf._kits.loops"]),
        ("from kopf._core.engines.peering import Identity", ["kopf._core.engines.peering"]),
        ("from kopf import _core", ["kopf._core"]),
        ("def f():\n    from kopf._cogs import helpers", ["kopf._cogs"]),
        ("import importlib\nimportlib.import_module('kopf._core.actions')", ["kopf._core.actions"]),
        ("__import__('kopf._kits')", ["kopf._kits"]),
        ("import kopf\nfrom kopf import Body, on", []),
        ("from . import _core\nimport kopfx._core", []),
    ],
)
def test_the_check_sees_private_imports(source: str, expected: list[str]) -> None:
    assert list(private_kopf_imports(ast.parse(source))) == expected
