"""Every Prometheus metric of the orchestrator, defined once (prefix mec_, base units)."""

from __future__ import annotations

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
