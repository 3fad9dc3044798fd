"""`mec-orchestrator run` and `edge-host-agent run` load no dev tooling, plotting or numerics.

The import contract `run-path-without-tooling` checks the import statements; this checks what a
fresh interpreter really has in sys.modules, so an import through an entry point, `importlib` or
a third-party package is caught too. It imports every module of the product (a superset of what
the two `run` commands import at start-up, lazy imports such as `edge_host_agent.metrics_http`
and the orchestrator's process module included, whatever they are called today) and parses both
`run` command lines, as a start-up does before it does any work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PRODUCT = ("mec_orchestrator", "edge_host_agent", "mec_common")
FORBIDDEN = {"matplotlib", "numpy", "scipy", "mec_devtools"}

PROBE = f"""
import importlib, json, pkgutil, sys

for root in {PRODUCT!r}:
    package = importlib.import_module(root)
    for found in pkgutil.walk_packages(package.__path__, root + "."):
        if found.name.rsplit(".", 1)[-1] != "__main__":  # __main__ would run the command
            importlib.import_module(found.name)

from mec_orchestrator.cli import main as orchestrator
from edge_host_agent.cli import main as agent

for name, command in (("mec-orchestrator", orchestrator), ("edge-host-agent", agent)):
    try:
        command.main(["run", "--help"], prog_name=name)
    except SystemExit as done:
        assert done.code in (0, None), done.code
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_modules(tmp_path: Path) -> tuple[set[str], str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,  # not the repository: what is importable is what is installed
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    *usage, modules = result.stdout.strip().splitlines()
    return set(json.loads(modules)), "\n".join(usage)


def test_the_run_commands_load_no_tooling(tmp_path: Path) -> None:
    modules, usage = _loaded_modules(tmp_path)
    assert "Usage: mec-orchestrator run [OPTIONS]" in usage
    assert "Usage: edge-host-agent run [OPTIONS]" in usage
    expected = {
        "mec_orchestrator.operator.handlers",
        "edge_host_agent.agent",
        "edge_host_agent.metrics_http",
        "kopf",
    }
    assert expected <= modules
    loaded = {name.split(".")[0] for name in modules}
    assert loaded & FORBIDDEN == set(), sorted(m for m in modules if m.split(".")[0] in FORBIDDEN)
