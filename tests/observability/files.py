"""Where the observability files live and how the tests reach Prometheus's tools.

One place for the paths of the chart's rule file, dashboard and docs, and for finding
`promtool` and `prometheus` (Debian's `prometheus` package, installed by scripts/system-deps.sh):
a missing tool fails the test with what to run, never skips it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "mec-orchestrator"
RULES = CHART / "files" / "alerts" / "mec-orchestrator.rules.yaml"
DASHBOARDS = CHART / "files" / "dashboards"
RULE_TESTS = Path(__file__).resolve().parent / "alerts.test.yaml"
DOCS = REPO / "docs" / "observability.md"
DASHBOARD_CHECK = REPO / "tools" / "dashboard-check"


def prometheus_tool(name: str) -> Path:
    """The path of `promtool` or `prometheus`; fails the test when it is not installed."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: run scripts/system-deps.sh (Debian package prometheus)")
    return Path(found)
