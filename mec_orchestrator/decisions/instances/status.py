"""The EdgeApp status that explains the plan: instances, users, and the conditions.

Pure: the conditions are computed here and applied with the model's `set_condition` (transition
times move only when a status flips); the operator's single status writer only sends the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from mec_orchestrator.decisions.instances.plan import InstancePlan
from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.model import (
    ConditionStatus,
    EdgeApp,
    EdgeAppConditionType,
    EdgeAppStatus,
    Instance,
    InstantiationState,
    NewCondition,
    OperationalState,
    set_condition,
)

TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def instances_status(
    plan: InstancePlan,
    observed: Sequence[ObservedInstance],
    users_by_host: Mapping[str, int],
    endpoints: Mapping[str, str | None],
    deployment_names: Mapping[str, str],
) -> list[Instance]:
    """One entry per wanted host, in host order: its Deployment, readiness, users, endpoint."""
    seen = {o.host: o for o in observed}
    entries: list[Instance] = []
    for host in plan.wanted:
        current = seen.get(host)
        entries.append(
            Instance(
                host=host,
                deployment=current.deployment if current else deployment_names[host],
                ready=bool(current and current.ready),
                users=users_by_host.get(host, 0),
                endpoint=endpoints.get(host),
            )
        )
    return entries


def _conditions(
    app: EdgeApp, plan: InstancePlan, instances: Sequence[Instance], users: int
) -> list[NewCondition]:
    generation = app.metadata.generation
    stopped = app.spec.operational_state == OperationalState.STOPPED
    not_instantiated = plan.reason == "NotInstantiated"
    ready_count = sum(1 for i in instances if i.ready)

    placed = NewCondition(
        type=EdgeAppConditionType.PLACED,
        status=TRUE if plan.hosts else FALSE,
        reason=plan.reason,
        message=plan.message,
        observed_generation=generation,
    )
    if not_instantiated:
        ready = NewCondition(
            type=EdgeAppConditionType.READY,
            status=FALSE,
            reason="NotInstantiated",
            message="no instance runs",
            observed_generation=generation,
        )
    elif stopped:
        ready = NewCondition(
            type=EdgeAppConditionType.READY,
            status=FALSE,
            reason="Stopped",
            message="spec.operationalState is Stopped: instances are scaled to zero",
            observed_generation=generation,
        )
    elif instances and ready_count == len(instances):
        ready = NewCondition(
            type=EdgeAppConditionType.READY,
            status=TRUE,
            reason="InstancesReady",
            message=f"{ready_count}/{len(instances)} instances ready",
            observed_generation=generation,
        )
    else:
        waiting = [i.host for i in instances if not i.ready]
        ready = NewCondition(
            type=EdgeAppConditionType.READY,
            status=FALSE,
            reason="InstancesNotReady",
            message=(
                f"{ready_count}/{len(instances)} instances ready; waiting for "
                f"{', '.join(waiting) or 'a placement'}"
            ),
            observed_generation=generation,
        )

    budget = app.spec.latency.max_ms
    if plan.uncovered:
        shown = ", ".join(plan.uncovered[:5]) + (" ..." if len(plan.uncovered) > 5 else "")
        slo = NewCondition(
            type=EdgeAppConditionType.LATENCY_SLO_MET,
            status=FALSE,
            reason="AccessPointsUncovered",
            message=(
                f"{len(plan.uncovered)} access point(s) have no instance within {budget:g} ms: "
                f"{shown}"
            ),
            observed_generation=generation,
        )
    elif plan.coverage:
        slo = NewCondition(
            type=EdgeAppConditionType.LATENCY_SLO_MET,
            status=TRUE,
            reason="WithinBudget",
            message=(
                f"all {len(plan.coverage)} access points have an instance within {budget:g} ms"
                f" ({users} user(s) attached)"
            ),
            observed_generation=generation,
        )
    else:
        slo = NewCondition(
            type=EdgeAppConditionType.LATENCY_SLO_MET,
            status=ConditionStatus.UNKNOWN,
            reason="NoLatencyData",
            message="no access point with a known latency to any eligible host",
            observed_generation=generation,
        )

    problems = []
    if plan.evacuated:
        problems.append(f"evacuated from unavailable host(s) {', '.join(plan.evacuated)}")
    if plan.reason in {"NoEligibleHost", "NoEdgeHost"}:
        problems.append(plan.message)
    degraded = NewCondition(
        type=EdgeAppConditionType.DEGRADED,
        status=TRUE if problems else FALSE,
        reason="HostsLost" if plan.evacuated else ("NoCapacity" if problems else "AsPlanned"),
        message="; ".join(problems) or "running as planned",
        observed_generation=generation,
    )
    return [placed, ready, slo, degraded]


def build_status(
    app: EdgeApp,
    plan: InstancePlan,
    instances: list[Instance],
    now: datetime,
) -> EdgeAppStatus:
    """The whole status subresource for the app after this reconciliation."""
    previous = app.status.conditions if app.status and app.status.conditions else []
    users = sum(i.users for i in instances)
    conditions = list(previous)
    for new in _conditions(app, plan, instances, users):
        conditions = set_condition(conditions, new, now)
    instantiated = plan.reason != "NotInstantiated"
    status = EdgeAppStatus(
        instantiation_state=(
            InstantiationState.INSTANTIATED if instantiated else InstantiationState.NOT_INSTANTIATED
        ),
        operational_state=app.spec.operational_state if instantiated else None,
        instances=instances,
        users=users,
        conditions=conditions,
        observed_generation=app.metadata.generation,
    )
    return status.summarized()
