"""The wheel, installed without extras into an empty virtual environment, runs the product.

Builds the wheel with pip (hatchling and the protobuf build hook, in pip's isolated build
environment), installs it and its dependencies from the package index into a new venv, and runs
both `run` commands from there: a dependency that only the dev extras bring would show up here.

The wheel is built from a copy of the working tree: the build hook regenerates gen/python in
place (removing it first), which the editable install and other running tests import from.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What is not source (git-ignored or machine-local), at the top of the tree or anywhere below.
NOT_SOURCE_AT_TOP = {
    ".git",
    ".venv",
    "gen",
    ".devcluster",
    "build",
    "dist",
    "demo-report",
    ".import_linter_cache",
    ".grimp_cache",
}
NOT_SOURCE_ANYWHERE = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
DEMO_DATA = (
    "mec_devtools/data/crds/edgeapps.mec.dev.yaml",
    "mec_devtools/data/examples/edgehosts.yaml",
)
EXTRAS_ONLY = ("matplotlib", "numpy", "scipy")
LIVE_VIEW_PAGE = ("index.html", "live.css", "live.js")

pytestmark = pytest.mark.timeout(900)  # a cold pip cache downloads every dependency


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    env: dict[str, str]
    workdir: Path

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / program), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _ignore(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {
        name
        for name in names
        if name in NOT_SOURCE_ANYWHERE
        or name.endswith(".egg-info")
        or (top and name in NOT_SOURCE_AT_TOP)
    }


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}
    }
    return {**env, "PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _check(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=840, check=False
    )
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    try:
        source = base / "source"
        shutil.copytree(ROOT, source, ignore=_ignore, symlinks=True)
        wheelhouse = base / "wheelhouse"
        env = _clean_env()
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(wheelhouse)]
        _check([*pip_wheel, str(source)], env, base)
        (wheel,) = wheelhouse.glob("mec_orchestrator-*.whl")
        venv = base / "venv"
        _check([sys.executable, "-m", "venv", str(venv)], env, base)
        _check([str(venv / "bin" / "python"), "-m", "pip", "install", str(wheel)], env, base)
        workdir = base / "elsewhere"  # not the source tree: nothing importable by accident
        workdir.mkdir()
        path = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        yield Installed(wheel, venv, {**env, "VIRTUAL_ENV": str(venv), "PATH": path}, workdir)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_wheel_carries_the_demo_data(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    for name in DEMO_DATA:
        assert name in names
    assert "mec/__init__.py" in names  # the generated protobuf package, made by the build hook


def test_the_wheel_carries_the_live_view_page(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = set(wheel.namelist())
    for name in LIVE_VIEW_PAGE:
        assert f"mec_orchestrator/api/static/live/{name}" in names
    probe = "from mec_orchestrator.api.routers.live import _assets; print(sorted(_assets()))"
    result = installed.run("python", "-c", probe)  # found as package data once installed
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(sorted(LIVE_VIEW_PAGE))


def test_the_product_is_imported_from_the_new_environment(installed: Installed) -> None:
    result = installed.run(
        "python", "-c", "import mec_orchestrator, edge_host_agent; print(mec_orchestrator.__file__)"
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(installed.venv)


@pytest.mark.parametrize("program", ["mec-orchestrator", "edge-host-agent"])
def test_run_help_works_without_extras(installed: Installed, program: str) -> None:
    result = installed.run(program, "run", "--help")
    assert result.returncode == 0, result.stderr
    assert f"Usage: {program} run [OPTIONS]" in result.stdout
    assert "--help" in result.stdout


def test_no_plotting_or_numeric_library_is_installed(installed: Installed) -> None:
    probe = (
        "import importlib.util, json; "
        f"print(json.dumps([n for n in {EXTRAS_ONLY!r} if importlib.util.find_spec(n)]))"
    )
    result = installed.run("python", "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    listed = installed.run("python", "-m", "pip", "list", "--format=freeze")
    assert listed.returncode == 0, listed.stderr
    assert "kopf==" in listed.stdout  # the list is real: a dependency is there
    installed_names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert installed_names.isdisjoint(EXTRAS_ONLY)


def test_top_level_help_works_without_extras(installed: Installed) -> None:
    result = installed.run("mec-orchestrator", "--help")
    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout
