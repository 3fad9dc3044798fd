"""Every product module is on a live path: imported, directly or not, from an entry point.

A module nothing imports is dead weight that still has to be read, typed and kept working;
benchmarks keep their own reference implementations (bench/), not the product.
"""

from __future__ import annotations

import importlib.util

import grimp

PRODUCT = ("mec_orchestrator", "edge_host_agent", "mec_common", "mec_app_sdk")
ENTRY_POINTS = (
    "mec_orchestrator.cli",
    "mec_orchestrator.__main__",
    "edge_host_agent.cli",
    "edge_host_agent.__main__",
    "mec_app_sdk.reference.cli",
)


def _is_package(module: str) -> bool:
    """A package (an __init__ module) is loaded with its submodules; no one imports it alone."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None


def _reachable(graph: grimp.ImportGraph) -> set[str]:
    seen: set[str] = set()
    stack = list(ENTRY_POINTS)
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        stack.extend(graph.find_modules_directly_imported_by(module))
    return seen


def test_every_product_module_is_imported_from_an_entry_point() -> None:
    graph = grimp.build_graph(*PRODUCT)
    modules = {m for m in graph.modules if m.split(".")[0] in PRODUCT}
    packages = {m for m in modules if _is_package(m)}
    unreachable = modules - packages - _reachable(graph)
    assert unreachable == set(), f"no entry point imports {sorted(unreachable)}"


def test_the_check_sees_a_module_nobody_imports() -> None:
    graph = grimp.build_graph(*PRODUCT)
    graph.add_module("mec_orchestrator.decisions.orphan")
    modules = {m for m in graph.modules if m.split(".")[0] in PRODUCT}
    packages = {m for m in modules if _is_package(m)}
    assert "mec_orchestrator.decisions.orphan" in modules - packages - _reachable(graph)
