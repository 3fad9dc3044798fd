"""Every Prometheus metric of the orchestrator, defined once (prefix mec_, base units).

Counters whose label values are known in advance are created at zero when the module loads, so
that a rate() (an alert, a dashboard panel) reads 0 rather than nothing before the first event.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_SECONDS = Histogram(
    "mec_reconcile_seconds",
    "Time to reconcile one EdgeApp (read, plan, apply, status).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PLACEMENT_DECISION_SECONDS = Histogram(
    "mec_placement_decision_seconds",
    "Time to compute one EdgeApp's instance plan (pure placement code only).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
)
RECONCILE_ERRORS = Counter(
    "mec_reconcile_errors_total", "Reconciliations that failed and will be retried.", ["reason"]
)
INSTANCES_PER_HOST = Gauge(
    "mec_instances", "App instances (Deployments) per edge host, as last planned.", ["host"]
)
PLACEMENT_CHANGES = Counter(
    "mec_placement_changes_total", "Instances added or retired by the operator.", ["change"]
)
LATENCY_RANKING_CHANGES = Counter(
    "mec_latency_ranking_changes_total",
    "Times the ranking of hosts per access point changed (every EdgeApp was woken).",
)
EDGEHOST_STATUS_WRITES = Counter(
    "mec_edgehost_status_writes_total",
    "Agent summaries written into EdgeHost status, by outcome (written, no-edgehost, failed).",
    ["outcome"],
)
ACTIVE_REPLICA = Gauge(
    "mec_active_replica",
    "1 while this replica is the active one by kopf's peering rule (as last checked), else 0.",
)

# Per EdgeApp, as its last reconcile planned it (removed with the app)
EDGEAPP_INSTANCES = Gauge(
    "mec_edgeapp_instances",
    "App instances an EdgeApp's last reconcile planned (wanted hosts).",
    ["namespace", "edgeapp"],
)
EDGEAPP_LATENCY_SLO_MET = Gauge(
    "mec_edgeapp_latency_slo_met",
    "1 while the EdgeApp's LatencySLOMet condition is True, 0 while it is False or Unknown.",
    ["namespace", "edgeapp"],
)
EDGEAPP_ACCESS_POINTS_OUTSIDE_BUDGET = Gauge(
    "mec_edgeapp_access_points_outside_budget",
    "Access points the EdgeApp serves over its latency budget or not at all.",
    ["namespace", "edgeapp"],
)
EDGEAPP_USERS_OUTSIDE_BUDGET = Gauge(
    "mec_edgeapp_users_outside_budget",
    "The EdgeApp's users attached at access points served over budget or not at all.",
    ["namespace", "edgeapp"],
)

# Users (MEC 016 attachments, RNIS cell changes)
USERS = Gauge("mec_users", "Users (device application contexts) the orchestrator knows.")
USER_ATTACH_SECONDS = Histogram(
    "mec_user_attach_seconds",
    "Time to attach a device: placement decision and the agent's admission.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
USER_ATTACH_REFUSED = Counter(
    "mec_user_attach_refused_total", "Attachments refused, by reason.", ["reason"]
)
USER_MOVES = Counter(
    "mec_user_moves_total",
    "Mobility decisions on a cell change, by outcome (moved, stayed, failed).",
    ["outcome"],
)
CELL_CHANGES = Counter(
    "mec_cell_change_notifications_total",
    "RNIS cell-change notifications received, by outcome (applied, preparing, refused reason).",
    ["outcome"],
)
USERS_ADOPTED = Counter(
    "mec_users_adopted_total", "Users learned from the agents' reports (after a restart)."
)

# Handovers (a user moved with its context, or switched)
HANDOVERS = Counter("mec_handover_total", "Handovers of users with context, by result.", ["result"])
HANDOVER_INTERRUPTION = Histogram(
    "mec_handover_interruption_seconds",
    "How long a user's context was fenced at the source (the transfer's share of the break).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
)
HANDOVER_CONTEXT_BYTES = Histogram(
    "mec_handover_context_bytes",
    "Bytes of context moved per handover (pre-copy rounds and the fenced rest).",
    buckets=(1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864),
)
HANDOVER_PHASE_SECONDS = Histogram(
    "mec_handover_phase_seconds",
    "Time per phase of a handover (prepare, transfer, commit).",
    ["phase"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)

for _reason in ("PackageMissing", "Exception"):
    RECONCILE_ERRORS.labels(_reason)
for _result in ("completed", "failed"):
    HANDOVERS.labels(_result)
for _change in ("added", "retired"):
    PLACEMENT_CHANGES.labels(_change)


@dataclass(frozen=True)
class AppFigures:
    """What the per-EdgeApp gauges say about one app after a reconcile."""

    instances: int
    slo_met: bool
    access_points_outside_budget: int
    users_outside_budget: int


def app_figures(
    wanted: Iterable[str],
    outside_budget: Iterable[str],
    conditions: Iterable[Mapping[str, object]],
    users_at: Mapping[str, int],
) -> AppFigures:
    """The per-app gauges' values after one reconcile.

    From the plan (wanted hosts; access points over budget or uncovered), the status conditions
    written, and the app's users per access point.
    """
    outside = set(outside_budget)
    slo_met = any(
        c.get("type") == "LatencySLOMet" and c.get("status") == "True" for c in conditions
    )
    return AppFigures(
        instances=len(set(wanted)),
        slo_met=slo_met,
        access_points_outside_budget=len(outside),
        users_outside_budget=sum(n for ap, n in users_at.items() if ap in outside),
    )


def record_app(namespace: str, name: str, figures: AppFigures) -> None:
    EDGEAPP_INSTANCES.labels(namespace, name).set(figures.instances)
    EDGEAPP_LATENCY_SLO_MET.labels(namespace, name).set(1 if figures.slo_met else 0)
    EDGEAPP_ACCESS_POINTS_OUTSIDE_BUDGET.labels(namespace, name).set(
        figures.access_points_outside_budget
    )
    EDGEAPP_USERS_OUTSIDE_BUDGET.labels(namespace, name).set(figures.users_outside_budget)


def forget_app(namespace: str, name: str) -> None:
    """The app is gone: its series go too (a deleted app is not an SLO violation)."""
    for gauge in (
        EDGEAPP_INSTANCES,
        EDGEAPP_LATENCY_SLO_MET,
        EDGEAPP_ACCESS_POINTS_OUTSIDE_BUDGET,
        EDGEAPP_USERS_OUTSIDE_BUDGET,
    ):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, name)


AGENT_CERTIFICATE_DECISIONS = Counter(
    "mec_agent_certificate_decisions_total",
    "Agents' certificate requests approved or denied by the orchestrator, by reason.",
    ["decision", "reason"],
)
AGENT_CERTIFICATES_ISSUED = Counter(
    "mec_agent_certificates_issued_total", "Agents' certificates signed by the orchestrator's CA."
)
