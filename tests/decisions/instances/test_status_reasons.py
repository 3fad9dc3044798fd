"""The conditions say exactly why: the plan's reasons read through build_status, end to end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mec_orchestrator.decisions.instances.plan import InstancePlan
from mec_orchestrator.decisions.instances.status import build_status, instances_status
from mec_orchestrator.decisions.instances.views import AccessPointView, HostView, ObservedInstance
from mec_orchestrator.model import (
    Condition,
    ConditionStatus,
    DegradedReason,
    EdgeApp,
    EdgeAppConditionType,
    EdgeAppStatus,
    LatencySloReason,
    PlacedReason,
)
from tests.decisions.instances.test_plan import NOW, hosts, plan, spec

TYPE = EdgeAppConditionType


def app(**spec_overrides: Any) -> EdgeApp:
    return EdgeApp.model_validate(
        {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "EdgeApp",
            "metadata": {"name": "ar", "namespace": "city", "uid": "u-1", "generation": 1},
            "spec": spec(**spec_overrides).to_dict(),
        }
    )


def status_of(
    subject: EdgeApp,
    views: list[HostView],
    rtts: Mapping[tuple[str, str], float],
    *,
    ready: bool = True,
) -> tuple[InstancePlan, EdgeAppStatus]:
    """Plan the app, pretend every wanted instance exists (Ready or not), build the status."""
    result: InstancePlan = plan(subject.spec, views, rtts)
    observed = [ObservedInstance(h, f"ar-{h}", 1, 1 if ready else 0) for h in result.wanted]
    entries = instances_status(result, observed, {}, {}, {})
    return result, build_status(subject, result, entries, NOW)


def condition(status: EdgeAppStatus, type_: str) -> Condition:
    found = next((c for c in status.conditions or [] if c.type == type_), None)
    assert found is not None, f"no {type_} condition"
    return found


# -- Placed=False says exactly why --------------------------------------------------------


def test_placed_false_counts_distinct_hosts_and_names_each_cause() -> None:
    views = [
        HostView("a", ready=False, cordoned=False),
        HostView("a", ready=False, cordoned=False),  # a second node of host a
        HostView("b", ready=True, cordoned=False, agent_lost=True),
        HostView("c", ready=True, cordoned=True),
        HostView("d", ready=True, cordoned=False),
        HostView("e", ready=True, cordoned=False, capacity_instances=1, instances_of_other_apps=1),
    ]
    rtts = {("ap-1", h): 2.0 for h in "abcde"} | {("ap-2", h): 2.0 for h in "abcde"}
    result, status = status_of(app(placement={"hosts": ["a", "b", "c", "e"]}), views, rtts)
    placed = condition(status, TYPE.PLACED)
    assert (placed.status, placed.reason) == (ConditionStatus.FALSE, PlacedReason.NO_ELIGIBLE_HOST)
    assert result.reason is PlacedReason.NO_ELIGIBLE_HOST
    assert "none of 5 edge hosts" in placed.message
    for cause in (
        "1 not Ready (a)",
        "1 agent lost (b)",
        "1 cordoned (c)",
        "1 not allowed by spec.placement.hosts (d)",
        "1 full (e)",
    ):
        assert cause in placed.message


def test_placed_false_without_latency_data_says_so_rather_than_blaming_the_hosts() -> None:
    _, status = status_of(app(), hosts("a", "b"), {})
    placed = condition(status, TYPE.PLACED)
    assert (placed.status, placed.reason) == (ConditionStatus.FALSE, PlacedReason.NO_LATENCY_DATA)
    assert "2 eligible edge hosts" in placed.message
    assert "ap-1" in placed.message


def test_placed_names_the_best_latency_of_access_points_served_over_budget() -> None:
    rtts = {(f"ap-{i}", "a"): 20.0 + i for i in range(7)}
    aps = sorted({ap for ap, _ in rtts})
    subject = app()
    result = plan(
        subject.spec, hosts("a"), rtts, access_points=[AccessPointView(ap, "z") for ap in aps]
    )
    assert result.reason is PlacedReason.OVER_BUDGET
    assert "7 access points over the 5 ms budget" in result.message
    assert "ap-0 10 ms from a" in result.message
    assert "ap-6" not in result.message  # a few, then ...
    assert "..." in result.message


# -- Degraded names the real cause --------------------------------------------------------


def test_degraded_says_no_eligible_host_when_hosts_are_down_not_full() -> None:
    views = [HostView("a", ready=False, cordoned=False)]
    _, status = status_of(app(), views, {("ap-1", "a"): 2.0})
    degraded = condition(status, TYPE.DEGRADED)
    assert (degraded.status, degraded.reason) == (
        ConditionStatus.TRUE,
        DegradedReason.NO_ELIGIBLE_HOST,
    )


def test_degraded_says_no_capacity_only_when_the_hosts_are_full() -> None:
    full = {"capacity_instances": 1, "instances_of_other_apps": 1}
    views = hosts("a", "b", a=full, b=full)
    _, status = status_of(app(), views, {("ap-1", "a"): 2.0, ("ap-1", "b"): 2.0})
    degraded = condition(status, TYPE.DEGRADED)
    assert (degraded.status, degraded.reason) == (ConditionStatus.TRUE, DegradedReason.NO_CAPACITY)


def test_degraded_says_no_edge_host_without_hosts() -> None:
    _, status = status_of(app(), [], {})
    degraded = condition(status, TYPE.DEGRADED)
    assert (degraded.status, degraded.reason) == (ConditionStatus.TRUE, DegradedReason.NO_EDGE_HOST)


def test_degraded_and_slo_say_over_budget_with_the_measured_latencies() -> None:
    rtts = {("ap-1", "a"): 15.0, ("ap-2", "a"): 4.0}
    _, status = status_of(app(), hosts("a"), rtts)
    degraded = condition(status, TYPE.DEGRADED)
    assert (degraded.status, degraded.reason) == (ConditionStatus.TRUE, DegradedReason.OVER_BUDGET)
    slo = condition(status, TYPE.LATENCY_SLO_MET)
    assert (slo.status, slo.reason) == (ConditionStatus.FALSE, LatencySloReason.OVER_BUDGET)
    assert "ap-1 7.5 ms from a" in slo.message
    assert "5 ms" in slo.message
    placed = condition(status, TYPE.PLACED)
    assert (placed.status, placed.reason) == (ConditionStatus.TRUE, PlacedReason.OVER_BUDGET)


# -- LatencySLOMet waits for a Ready instance ---------------------------------------------


def test_latency_slo_is_not_met_before_an_instance_is_ready() -> None:
    rtts = {("ap-1", "a"): 2.0, ("ap-2", "a"): 2.0}
    _, waiting = status_of(app(), hosts("a"), rtts, ready=False)
    slo = condition(waiting, TYPE.LATENCY_SLO_MET)
    assert (slo.status, slo.reason) == (ConditionStatus.FALSE, LatencySloReason.NO_READY_INSTANCE)
    assert "waiting for a" in slo.message
    _, serving = status_of(app(), hosts("a"), rtts, ready=True)
    slo = condition(serving, TYPE.LATENCY_SLO_MET)
    assert (slo.status, slo.reason) == (ConditionStatus.TRUE, LatencySloReason.WITHIN_BUDGET)
    degraded = condition(serving, TYPE.DEGRADED)
    assert (degraded.status, degraded.reason) == (ConditionStatus.FALSE, DegradedReason.AS_PLANNED)
