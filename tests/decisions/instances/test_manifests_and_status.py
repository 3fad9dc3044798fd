"""Instance manifests (names, pinning, ownership, Stopped) and the status that explains a plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.instances.manifests import (
    deployment_manifest,
    endpoint,
    instance_name,
    service_manifest,
)
from mec_orchestrator.decisions.instances.plan import InstancePlan
from mec_orchestrator.decisions.instances.status import build_status, instances_status
from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.model import Condition, EdgeApp, find_condition

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"tier": "edge"}},
    "spec": {
        "containers": [
            {
                "name": "srv",
                "image": "i:1",
                "ports": [{"name": "frames", "containerPort": 7443, "protocol": "UDP"}],
            }
        ]
    },
}


def app(**spec: Any) -> EdgeApp:
    body: dict[str, Any] = {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": "ar", "namespace": "city", "uid": "u-1", "generation": 3},
        "spec": {
            "appDId": "app-1",
            "appName": "ar",
            "appProvider": "p",
            "appSoftVersion": "1.2",
            "latency": {"maxMs": 10},
            "template": TEMPLATE,
            **spec,
        },
    }
    return EdgeApp.model_validate(body)


def condition(conditions: list[Condition], type_: str) -> Condition:
    found = find_condition(conditions, type_)
    assert found is not None, f"no {type_} condition"
    return found


label_chars = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=60)


@given(label_chars, label_chars)
def test_instance_names_are_stable_dns_labels(app_name: str, host: str) -> None:
    name = instance_name(app_name, host)
    assert len(name) <= 63
    assert name == instance_name(app_name, host)
    assert not name.endswith("-")
    if len(f"{app_name}-{host}") <= 63:
        assert name == f"{app_name}-{host}"


def test_deployment_is_pinned_to_its_host_and_owned_by_the_app() -> None:
    manifest = deployment_manifest(app(), "site-1", TEMPLATE)
    assert manifest["metadata"]["name"] == "ar-site-1"
    assert manifest["metadata"]["namespace"] == "city"
    assert manifest["spec"]["replicas"] == 1
    pod = manifest["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == {"mec.dev/edge-host": "site-1"}
    assert pod["metadata"]["labels"] == {
        "tier": "edge",
        "mec.dev/app": "ar",
        "mec.dev/edge-host": "site-1",
    }
    assert manifest["spec"]["selector"]["matchLabels"] == {
        "mec.dev/app": "ar",
        "mec.dev/edge-host": "site-1",
    }
    owner = manifest["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"], owner["controller"]) == ("EdgeApp", "u-1", True)
    assert TEMPLATE["spec"].get("nodeSelector") is None  # the app's template is not modified


def test_every_container_learns_its_instance_id_and_its_hosts_mp1() -> None:
    template = {
        "spec": {
            "containers": [
                {"name": "a", "image": "x", "env": [{"name": "MEC_APP_MP1_URL", "value": "mine"}]},
                {"name": "b", "image": "y"},
            ]
        }
    }
    pod = deployment_manifest(app(), "site-1", template, mp1_port=9000)["spec"]["template"]
    first, second = pod["spec"]["containers"]
    env = {e["name"]: e for e in second["env"]}
    assert env["MEC_APP_INSTANCE_ID"]["value"] == "city.ar-site-1"
    assert env["MEC_APP_MP1_URL"]["value"] == "http://$(MEC_HOST_IP):9000"
    assert env["MEC_HOST_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    names = [e["name"] for e in second["env"]]
    assert names.index("MEC_HOST_IP") < names.index("MEC_APP_MP1_URL")  # defined before use
    assert [e["value"] for e in first["env"] if e["name"] == "MEC_APP_MP1_URL"] == ["mine"]
    untouched: Any = template["spec"]["containers"]
    assert "env" not in untouched[1]  # the app's template is not modified


def test_stopped_means_zero_replicas() -> None:
    assert (
        deployment_manifest(app(operationalState="Stopped"), "h", TEMPLATE)["spec"]["replicas"] == 0
    )


def test_service_exposes_the_container_ports_and_endpoint_names_it() -> None:
    service = service_manifest(app(), "site-1", TEMPLATE)
    assert service is not None
    assert service["spec"]["ports"] == [
        {"name": "frames", "port": 7443, "targetPort": 7443, "protocol": "UDP"}
    ]
    assert endpoint(app(), "site-1", TEMPLATE) == "ar-site-1.city.svc:7443"
    no_ports = {"spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert service_manifest(app(), "site-1", no_ports) is None


def _status(
    plan: InstancePlan, observed: list[ObservedInstance], previous: EdgeApp | None = None
) -> Any:
    subject = previous or app()
    entries = instances_status(plan, observed, {}, {}, {h: f"ar-{h}" for h in plan.wanted})
    return build_status(subject, plan, entries, NOW)


def test_status_explains_a_ready_placement_within_budget() -> None:
    plan = InstancePlan(
        hosts=("a",), standby=(), coverage={"ap-1": "a"}, message="1 instance(s) on a"
    )
    status = _status(plan, [ObservedInstance("a", "ar-a", 1, 1)])
    conditions = status.conditions or []
    assert condition(conditions, "Placed").status == "True"
    assert condition(conditions, "Ready").status == "True"
    assert condition(conditions, "LatencySLOMet").status == "True"
    assert condition(conditions, "Degraded").status == "False"
    assert all(c.observed_generation == 3 for c in conditions)
    assert (status.hosts_summary, status.ready_summary, status.users) == ("a", "1/1", 0)


def test_status_reports_uncovered_access_points_and_evacuations() -> None:
    plan = InstancePlan(
        hosts=("b",), standby=(), coverage={"ap-1": "b"}, uncovered=("ap-2",), evacuated=("a",)
    )
    status = _status(plan, [ObservedInstance("b", "ar-b", 1, 0)])
    conditions = status.conditions or []
    slo = condition(conditions, "LatencySLOMet")
    assert slo.status == "False"
    assert "ap-2" in slo.message
    degraded = condition(conditions, "Degraded")
    assert degraded.status == "True"
    assert "evacuated" in degraded.message
    ready = condition(conditions, "Ready")
    assert ready.status == "False"
    assert "waiting for b" in ready.message


def test_transition_time_moves_only_when_a_condition_flips() -> None:
    plan = InstancePlan(hosts=("a",), standby=(), coverage={"ap-1": "a"})
    first = _status(plan, [ObservedInstance("a", "ar-a", 1, 0)])
    previous = app().model_copy(update={"status": first})
    later = build_status(
        previous,
        plan,
        instances_status(plan, [ObservedInstance("a", "ar-a", 1, 1)], {}, {}, {"a": "ar-a"}),
        NOW + timedelta(minutes=5),
    )
    old, new = first.conditions or [], later.conditions or []
    assert (
        condition(new, "Placed").last_transition_time
        == condition(old, "Placed").last_transition_time
    )
    assert condition(new, "Ready").last_transition_time == NOW + timedelta(minutes=5)


def test_handover_in_progress_says_how_many_users_are_moving() -> None:
    plan = InstancePlan(hosts=("a",), standby=(), coverage={"ap-1": "a"})
    entries = instances_status(plan, [ObservedInstance("a", "ar-a", 1, 1)], {}, {}, {"a": "ar-a"})
    moving = build_status(app(), plan, entries, NOW, handovers=2).conditions or []
    assert condition(moving, "HandoverInProgress").status == "True"
    assert condition(moving, "HandoverInProgress").reason == "InProgress"
    assert "2 user(s)" in condition(moving, "HandoverInProgress").message
    still = build_status(app(), plan, entries, NOW).conditions or []
    assert (
        condition(still, "HandoverInProgress").status,
        condition(still, "HandoverInProgress").reason,
    ) == (
        "False",
        "NoHandover",
    )
