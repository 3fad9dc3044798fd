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
