"""The per-EdgeApp gauges the SLO alerts and the dashboard read: what a reconcile's plan and
status make them say, and that a deleted app's series go away; the counters created at zero;
every metric of the orchestrator and the agent listed in docs/observability.md.
"""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric

from edge_host_agent.metrics import AgentProbeMetrics
from mec_orchestrator.adapters.agent_link import AgentMetrics
from mec_orchestrator.adapters.agent_link.metrics import default_metrics as agent_link_metrics
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics
from mec_orchestrator.adapters.callbacks.metrics import default_metrics as callback_metrics
from mec_orchestrator.model.subscription import SubscriptionApi
from mec_orchestrator.operator import metrics
from tests.observability.files import DOCS

SLO_MET = {"type": "LatencySLOMet", "status": "True", "reason": "WithinBudget"}
SLO_NOT_MET = {"type": "LatencySLOMet", "status": "False", "reason": "OverBudget"}
READY = {"type": "Ready", "status": "True"}


def test_an_app_within_budget() -> None:
    figures = metrics.app_figures(["edge-a", "edge-b"], [], [READY, SLO_MET], {"ap1": 3})
    assert figures == metrics.AppFigures(
        instances=2, slo_met=True, access_points_outside_budget=0, users_outside_budget=0
    )


def test_an_app_over_budget_counts_the_users_at_the_access_points_it_serves_badly() -> None:
    figures = metrics.app_figures(
        ["edge-a"], ["ap2", "ap3"], [READY, SLO_NOT_MET], {"ap1": 3, "ap2": 2, "ap3": 1}
    )
    assert figures == metrics.AppFigures(
        instances=1, slo_met=False, access_points_outside_budget=2, users_outside_budget=3
    )


def test_an_unknown_slo_is_not_met() -> None:
    unknown = {"type": "LatencySLOMet", "status": "Unknown", "reason": "NoLatencyData"}
    assert not metrics.app_figures([], [], [unknown], {}).slo_met
    assert not metrics.app_figures([], [], [], {}).slo_met


access_points = st.sampled_from([f"ap{i}" for i in range(6)])


@given(
    wanted=st.lists(st.sampled_from(["edge-a", "edge-b", "edge-c"])),
    outside=st.lists(access_points),
    users=st.dictionaries(access_points, st.integers(min_value=0, max_value=50)),
    met=st.booleans(),
)
def test_figures_stay_within_what_the_app_has(
    wanted: list[str], outside: list[str], users: dict[str, int], met: bool
) -> None:
    figures = metrics.app_figures(wanted, outside, [SLO_MET if met else SLO_NOT_MET], users)
    assert figures.instances == len(set(wanted))
    assert figures.slo_met is met
    assert figures.access_points_outside_budget == len(set(outside))
    assert 0 <= figures.users_outside_budget <= sum(users.values())
    if not outside:
        assert figures.users_outside_budget == 0


def _value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_recorded_figures_are_exported_and_removed_with_the_app() -> None:
    key = {"namespace": "obs-test", "edgeapp": "ar"}
    metrics.record_app(
        "obs-test",
        "ar",
        metrics.AppFigures(
            instances=2, slo_met=False, access_points_outside_budget=1, users_outside_budget=4
        ),
    )
    assert _value("mec_edgeapp_instances", **key) == 2
    assert _value("mec_edgeapp_latency_slo_met", **key) == 0
    assert _value("mec_edgeapp_access_points_outside_budget", **key) == 1
    assert _value("mec_edgeapp_users_outside_budget", **key) == 4
    metrics.forget_app("obs-test", "ar")
    assert _value("mec_edgeapp_instances", **key) is None
    assert _value("mec_edgeapp_latency_slo_met", **key) is None
    metrics.forget_app("obs-test", "ar")  # twice: nothing left to remove, no error


def test_counters_the_alerts_rate_exist_at_zero_before_the_first_event() -> None:
    for result in ("completed", "failed"):
        assert _value("mec_handover_total", result=result) is not None
    for reason in ("PackageMissing", "Exception"):
        assert _value("mec_reconcile_errors_total", reason=reason) is not None


async def test_a_delivery_creates_every_api_and_result_series_at_zero() -> None:
    registry = CollectorRegistry()
    callback_metrics = CallbackMetrics(registry)
    async with CallbackDelivery(metrics=callback_metrics):
        pass
    for api in SubscriptionApi:
        assert registry.get_sample_value("mec_notification_backlog", {"api": api.value}) == 0
        for result in ("delivered", "dropped_full", "dropped_expired", "gave_up", "rejected"):
            labels = {"api": api.value, "result": result}
            assert registry.get_sample_value("mec_notifications_total", labels) == 0


def test_the_agent_link_exports_each_known_host_connected_or_lost() -> None:
    registry = CollectorRegistry()
    agent_metrics = AgentMetrics(registry)
    assert registry.get_sample_value("mec_agent_connected", {"host": "edge-a"}) is None
    hosts = [("edge-a", True), ("edge-b", False)]
    agent_metrics.watch_hosts(lambda: hosts)
    assert registry.get_sample_value("mec_agent_connected", {"host": "edge-a"}) == 1
    assert registry.get_sample_value("mec_agent_connected", {"host": "edge-b"}) == 0
    hosts.pop()  # read at each scrape: a host the registry forgot is gone
    assert registry.get_sample_value("mec_agent_connected", {"host": "edge-b"}) is None


def _documented_name(family: Metric) -> str:
    return f"{family.name}_total" if family.type == "counter" else family.name


def test_every_metric_of_the_orchestrator_and_the_agent_is_in_the_reference() -> None:
    agent_link_metrics()
    callback_metrics()
    agent = AgentProbeMetrics(CollectorRegistry())
    agent.watch_link(
        SimpleNamespace(
            session_id=None,
            orchestrator=None,
            samples_sent=0,
            samples_dropped=0,
            gap_summaries_sent=0,
        )
    )
    families = [*REGISTRY.collect(), *agent.registry.collect()]
    names = {_documented_name(f) for f in families if f.name.startswith("mec_")}
    assert len(names) > 40
    reference = DOCS.read_text()
    assert sorted(n for n in names if f"`{n}`" not in reference) == []
