"""The Grafana dashboard passes tools/dashboard-check (the Grafana Foundation SDK's strict
decoding and validation, and the project's rules), and the checker refuses what it must."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.observability import dashboard_check
from tests.observability.files import DASHBOARDS

DASHBOARD = DASHBOARDS / "mec-orchestrator.json"


def test_the_dashboard_passes_the_strict_check() -> None:
    panels = dashboard_check.panels(DASHBOARD)
    assert len(panels) >= 15
    assert all(panel.queries for panel in panels)
    assert len({panel.id for panel in panels}) == len(panels)


def test_the_dashboard_shows_what_the_operators_watch() -> None:
    exprs = "\n".join(
        q for panel in dashboard_check.panels(DASHBOARD) for q in panel.queries.values()
    )
    for metric in (
        "mec_placement_changes_total",
        "mec_edgeapp_instances",
        "mec_users",
        "mec_handover_total",
        "histogram_quantile(0.99, sum by (le) (rate(mec_handover_interruption_seconds_bucket",
        "mec_edgeapp_latency_slo_met",
        "mec_edgeapp_users_outside_budget",
        "mec_edge_agent_rtt_seconds_bucket",
        "mec_reconcile_errors_total",
        "mec_notification_backlog",
        "mec_notifications_total",
    ):
        assert metric in exprs, f"no panel shows {metric}"


def _broken(tmp_path: Path, change: Any) -> str:
    board = json.loads(DASHBOARD.read_text())
    broken = copy.deepcopy(board)
    change(broken)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    done = dashboard_check.check(path)
    assert done.returncode == 1, done.stdout
    return done.stderr


def _set(path: str, value: Any) -> Any:
    def change(board: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = board
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("bogus", 1), "unexpected field 'bogus'"),
        (_set("panels.3.bogus", 1), "panels[3].Panel: unexpected field 'bogus'"),
        (_set("panels.3.targets.0.exprr", "up"), "unexpected field 'exprr'"),
        (_set("panels.3.gridPos.w", "wide"), "panels[3].gridPos.w"),
        (_set("panels.4.id", 1), "id 1 is also"),
        (_set("panels.3.targets", []), "has no query"),
        (_set("panels.3.targets.0.datasource", {"type": "prometheus", "uid": "x"}), "datasource"),
        (_set("templating", {"list": []}), 'no variable "datasource"'),
        (_set("uid", ""), "no uid"),
    ],
)
def test_the_checker_refuses_a_broken_dashboard(tmp_path: Path, change: Any, message: str) -> None:
    assert message in _broken(tmp_path, change)
