"""Each import-linter contract in pyproject.toml fails when the rule it states is broken.

A contract that is always KEPT proves nothing: a typo in a module name or a too-wide ignore makes
it vacuous. Each test copies the four packages and pyproject.toml to a scratch directory, adds one
import that the contract forbids and runs `lint-imports` there; the copy, not the editable install,
is analysed (lint-imports puts its working directory first on sys.path, and so does PYTHONPATH
here), which `test_the_unmodified_copy_keeps_every_contract` checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mec_orchestrator", "edge_host_agent", "mec_common", "mec_devtools", "mec_app_sdk")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# contract id -> (file to change, the import that breaks the contract)
VIOLATIONS: dict[str, tuple[str, str]] = {
    "layers": (
        "mec_orchestrator/adapters/kube/events.py",
        "from mec_orchestrator.operator import state",
    ),
    "pure": ("mec_orchestrator/decisions/instances/plan.py", "import kopf"),
    "adapters-independent": (
        "mec_orchestrator/adapters/agent_link/events.py",
        "from mec_orchestrator.adapters.kube import events",
    ),
    "only-kube-talks-to-the-api-server": (
        "mec_orchestrator/operator/leadership.py",
        "import kubernetes_asyncio",
    ),
    "agent-apart": ("edge_host_agent/backoff.py", "import mec_orchestrator"),
    "agent-kube-in-one-module": ("edge_host_agent/backoff.py", "import kubernetes_asyncio"),
    "common-is-a-leaf": ("mec_common/patterns.py", "import edge_host_agent"),
    "sdk-apart": ("mec_app_sdk/__init__.py", "import edge_host_agent"),
    "live-view-only-listens": (
        "mec_orchestrator/operator/state.py",
        "from mec_orchestrator.operator import live_feed",
    ),
    "run-path-without-tooling": ("mec_orchestrator/operator/metrics.py", "import numpy"),
}


def _contract_names() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return {str(c["id"]): str(c["name"]) for c in contracts}


def _copy(destination: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, destination / package, ignore=ignore)
    shutil.copyfile(ROOT / "pyproject.toml", destination / "pyproject.toml")
    return destination


def _environment(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def _lint(tree: Path, *args: str) -> tuple[int, str]:
    """Exit code and report of lint-imports, the report's line wrapping undone."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=tree,
        env=_environment(tree),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def test_every_contract_has_a_violation_here() -> None:
    assert set(_contract_names()) == set(VIOLATIONS)


def test_the_unmodified_copy_keeps_every_contract(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    where = subprocess.run(
        [sys.executable, "-c", f"import {', '.join(PACKAGES)}; print({PACKAGES[0]}.__file__)"],
        cwd=tree,
        env=_environment(tree),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(tree)  # the copy is what gets imported
    code, report = _lint(tree)
    assert code == 0, report
    names = _contract_names()
    for name in names.values():
        assert f"{name} KEPT" in report
    assert f"Contracts: {len(names)} kept, 0 broken." in report


@pytest.mark.parametrize("contract", sorted(VIOLATIONS))
def test_a_violation_breaks_the_contract(tmp_path: Path, contract: str) -> None:
    tree = _copy(tmp_path)
    relative, statement = VIOLATIONS[contract]
    with (tree / relative).open("a") as module:
        module.write(f"\n{statement}  # a deliberate violation\n")
    code, report = _lint(tree, "--contract", contract)
    assert code != 0, report
    assert f"{_contract_names()[contract]} BROKEN" in report
    assert "Contracts: 0 kept, 1 broken." in report
    violator = relative.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    assert violator in report  # the report names the module that broke it
