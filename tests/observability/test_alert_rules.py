"""The alert rules: promtool accepts them, each alert fires on the series it is about and not
on the others (alerts.test.yaml, run by `promtool test rules`), and each carries what an
operator needs (`for:`, a severity, a summary, a description, a runbook that exists).
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import yaml

from tests.observability.files import DOCS, RULE_TESTS, RULES, prometheus_tool

SEVERITIES = {"critical", "warning"}


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_promtool_checks_the_rule_file() -> None:
    done = subprocess.run(
        [str(prometheus_tool("promtool")), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_every_alert_fires_on_its_series_and_not_on_the_others() -> None:
    done = subprocess.run(
        [str(prometheus_tool("promtool")), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_firing_case_and_a_silent_case() -> None:
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {alert["alert"] for alert in _alerts()}
    assert names - fired == set(), "alerts never shown firing"
    assert names - silent == set(), "alerts never shown staying silent"


def test_every_alert_says_how_long_how_bad_what_and_where_its_runbook_is() -> None:
    anchors = _anchors(DOCS.read_text())
    alerts = _alerts()
    assert len(alerts) >= 6
    for alert in alerts:
        name = alert["alert"]
        assert re.fullmatch(r"\d+[smh]", alert.get("for", "")), f"{name}: no `for:`"
        assert alert["labels"]["severity"] in SEVERITIES, name
        notes = alert["annotations"]
        assert notes["summary"].strip(), name
        assert notes["description"].strip(), name
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/observability.md", name
        assert anchor == name.lower(), f"{name}: runbook anchor {anchor!r}"
        assert anchor in anchors, f"{name}: docs/observability.md has no section {anchor!r}"


def test_the_alerts_cover_what_hurts() -> None:
    """Handover failures, SLO violations, lost agents, reconcile errors, notification backlog
    and drops, and the process being down, each by the metric that shows it."""
    exprs = {alert["alert"]: alert["expr"] for alert in _alerts()}
    joined = "\n".join(exprs.values())
    for metric in (
        'mec_handover_total{result="failed"}',
        "mec_edgeapp_latency_slo_met",
        "mec_edgeapp_users_outside_budget",
        "mec_agent_connected == 0",
        "mec_edge_agent_session_up",
        "mec_reconcile_errors_total",
        "mec_notification_backlog",
        "mec_notifications_total",
        'up{job="mec-orchestrator"} == 0',
        'up{job="mec-edge-agent"} == 0',
    ):
        assert metric in joined, f"no alert on {metric}"
