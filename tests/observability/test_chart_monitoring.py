"""The chart's monitoring objects, rendered by the real `helm template`: the ServiceMonitors and
the PrometheusRule appear only when the cluster serves monitoring.coreos.com/v1 or the values
force them, the PrometheusRule carries the rule file as it is, and the dashboard's ConfigMap
carries the dashboard with the label Grafana's sidecar looks for.
"""

from __future__ import annotations

import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from mec_devtools.devcluster import DevClusterSettings
from mec_devtools.devcluster.binaries import ensure
from mec_devtools.devcluster.versions import helm_tool
from tests.observability.files import CHART, DASHBOARDS, RULES, prometheus_tool

MONITORING_API = "monitoring.coreos.com/v1"
RELEASE = "obs"
FULLNAME = f"{RELEASE}-mec-orchestrator"


@cache
def _helm() -> Path:
    return ensure((helm_tool(),), DevClusterSettings())["helm"]


def _render(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(_helm()), "template", RELEASE, str(CHART), "--kube-version", "1.36.0", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _objects(*args: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(_render(*args).stdout) if doc]


def _of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_without_the_monitoring_api_only_the_dashboard_is_rendered() -> None:
    objects = _objects()
    assert _of_kind(objects, "ServiceMonitor") == []
    assert _of_kind(objects, "PrometheusRule") == []
    (dashboards,) = [
        o for o in _of_kind(objects, "ConfigMap") if "dashboards" in o["metadata"]["name"]
    ]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboards["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    shipped = DASHBOARDS / "mec-orchestrator.json"
    assert json.loads(dashboards["data"]["mec-orchestrator.json"]) == json.loads(
        shipped.read_text()
    )


def test_with_the_monitoring_api_the_service_monitors_scrape_the_chart_services() -> None:
    objects = _objects("--api-versions", MONITORING_API)
    services = {s["metadata"]["name"]: s for s in _of_kind(objects, "Service")}
    monitors = {m["metadata"]["name"]: m for m in _of_kind(objects, "ServiceMonitor")}
    assert set(monitors) == {f"{FULLNAME}-orchestrator", f"{FULLNAME}-agent"}
    for monitor_name, service_name, port, job in (
        (f"{FULLNAME}-orchestrator", f"{FULLNAME}-api", "http", "mec-orchestrator"),
        (f"{FULLNAME}-agent", f"{FULLNAME}-agent", "metrics", "mec-edge-agent"),
    ):
        spec = monitors[monitor_name]["spec"]
        service = services[service_name]
        # The selector picks the Service (its labels), the port is one of its named ports.
        assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        assert port in {p["name"] for p in service["spec"]["ports"]}
        (endpoint,) = spec["endpoints"]
        assert endpoint["port"] == port
        assert endpoint["path"] == "/metrics"
        relabel = endpoint["relabelings"]
        keep = [r for r in relabel if r.get("action") == "keep"]
        assert keep == [
            {
                "sourceLabels": ["__meta_kubernetes_service_name"],
                "regex": service_name,
                "action": "keep",
            }
        ]
        assert {"targetLabel": "job", "replacement": job} in relabel
        # Other Services with the same labels (the peers' headless one) are dropped by name.
        same_labels = [
            name
            for name, other in services.items()
            if spec["selector"]["matchLabels"].items() <= other["metadata"]["labels"].items()
        ]
        assert service_name in same_labels


def test_the_prometheus_rule_carries_the_rule_file_as_it_is(tmp_path: Path) -> None:
    (rule,) = _of_kind(_objects("--api-versions", MONITORING_API), "PrometheusRule")
    assert rule["apiVersion"] == MONITORING_API
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    rendered = tmp_path / "rendered.rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"]))
    done = subprocess.run(
        [str(prometheus_tool("promtool")), "check", "rules", str(rendered)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_values_force_or_refuse_the_monitoring_objects() -> None:
    forced = _objects(
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.prometheusRule.enabled=true",
    )
    assert len(_of_kind(forced, "ServiceMonitor")) == 2
    assert len(_of_kind(forced, "PrometheusRule")) == 1
    refused = _objects(
        "--api-versions",
        MONITORING_API,
        "--set",
        "metrics.serviceMonitor.enabled=false",
        "--set",
        "metrics.prometheusRule.enabled=false",
        "--set",
        "metrics.dashboard.enabled=false",
    )
    assert _of_kind(refused, "ServiceMonitor") == []
    assert _of_kind(refused, "PrometheusRule") == []
    assert not [o for o in _of_kind(refused, "ConfigMap") if "dashboards" in o["metadata"]["name"]]


def test_labels_namespace_and_runbook_prefix_come_from_the_values() -> None:
    objects = _objects(
        "--api-versions",
        MONITORING_API,
        "--set",
        "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
        "--set",
        "metrics.prometheusRule.runbookUrlPrefix=https://example.org/mec/",
        "--set",
        "metrics.dashboard.namespace=monitoring",
        "--set",
        "metrics.dashboard.annotations.grafana_folder=MEC",
    )
    for monitor in _of_kind(objects, "ServiceMonitor"):
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (rule,) = _of_kind(objects, "PrometheusRule")
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert urls
    assert all(u.startswith("https://example.org/mec/docs/observability.md#") for u in urls)
    (dashboards,) = [
        o for o in _of_kind(objects, "ConfigMap") if "dashboards" in o["metadata"]["name"]
    ]
    assert dashboards["metadata"]["namespace"] == "monitoring"
    assert dashboards["metadata"]["annotations"] == {"grafana_folder": "MEC"}


@pytest.mark.parametrize("value", ["yes", "1"])
def test_a_wrong_enabled_value_is_refused_by_name(value: str) -> None:
    done = _render("--set-string", f"metrics.serviceMonitor.enabled={value}", check=False)
    assert done.returncode != 0
    assert "/metrics/serviceMonitor/enabled" in done.stderr


def test_without_agents_only_the_orchestrator_is_monitored() -> None:
    objects = _objects("--api-versions", MONITORING_API, "--set", "agent.enabled=false")
    monitors = [m["metadata"]["name"] for m in _of_kind(objects, "ServiceMonitor")]
    assert monitors == [f"{FULLNAME}-orchestrator"]
