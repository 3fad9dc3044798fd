"""The EdgeApp status that explains the plan: instances, users, and the conditions.

Pure: the conditions are computed here and applied with the model's `set_condition` (transition
times move only when a status flips); the operator's single status writer only sends the result.
Every reason is a member of the enums in `model.reasons`.

- `Placed` is the plan's own verdict (`InstancePlan.reason` and message).
- `Ready`: every wanted instance finished its rollout.
- `LatencySLOMet` is True only when every access point's serving instance is Ready and within
  the budget; False with `AccessPointsUncovered` (an access point no instance serves),
  `NoReadyInstance` (no serving instance is Ready yet, or some access point's is not),
  `OverBudget` (served best-effort by the nearest host: the message gives the one-way latencies
  against the budget); Unknown with `NoLatencyData` when no access point has a known latency.
- `Degraded` names the first real cause: `HostsLost` (evacuated), `NoEdgeHost`, `NoCapacity`
  (every host is full), `NoEligibleHost`, `NoLatencyData`, then `OverBudget`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from mec_orchestrator.decisions.instances.plan import (
    Ineligible,
    InstancePlan,
    count,
    listed,
    over_budget_text,
)
from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.model import (
    ConditionStatus,
    DegradedReason,
    EdgeApp,
    EdgeAppConditionType,
    EdgeAppStatus,
    HandoverReason,
    Instance,
    InstantiationState,
    LatencySloReason,
    NewCondition,
    OperationalState,
    PlacedReason,
    ReadyReason,
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


def _placed(plan: InstancePlan, generation: int | None) -> NewCondition:
    return NewCondition(
        type=EdgeAppConditionType.PLACED,
        status=TRUE if plan.hosts else FALSE,
        reason=plan.reason,
        message=plan.message,
        observed_generation=generation,
    )


def _ready(app: EdgeApp, plan: InstancePlan, instances: Sequence[Instance]) -> NewCondition:
    kind, generation = EdgeAppConditionType.READY, app.metadata.generation
    ready_count = sum(1 for i in instances if i.ready)
    if plan.reason is PlacedReason.NOT_INSTANTIATED:
        return NewCondition(
            type=kind,
            status=FALSE,
            reason=ReadyReason.NOT_INSTANTIATED,
            message="no instance runs",
            observed_generation=generation,
        )
    if app.spec.operational_state == OperationalState.STOPPED:
        return NewCondition(
            type=kind,
            status=FALSE,
            reason=ReadyReason.STOPPED,
            message="spec.operationalState is Stopped: instances are scaled to zero",
            observed_generation=generation,
        )
    if instances and ready_count == len(instances):
        return NewCondition(
            type=kind,
            status=TRUE,
            reason=ReadyReason.INSTANCES_READY,
            message=f"{ready_count}/{len(instances)} instances ready",
            observed_generation=generation,
        )
    waiting = [i.host for i in instances if not i.ready]
    return NewCondition(
        type=kind,
        status=FALSE,
        reason=ReadyReason.INSTANCES_NOT_READY,
        message=(
            f"{ready_count}/{len(instances)} instances ready; waiting for "
            f"{', '.join(waiting) or 'a placement'}"
        ),
        observed_generation=generation,
    )


def _latency_slo(
    app: EdgeApp, plan: InstancePlan, instances: Sequence[Instance], users: int
) -> NewCondition:
    """Met only when every access point's serving instance is Ready and within the budget."""
    budget = app.spec.latency.max_ms
    serving = dict(plan.coverage) | {ap: s.host for ap, s in plan.over_budget.items()}
    ready = {i.host for i in instances if i.ready}
    waiting = sorted({host for host in serving.values() if host not in ready})
    total = len(serving) + len(plan.uncovered)
    if plan.reason is PlacedReason.NOT_INSTANTIATED:
        status, reason = FALSE, LatencySloReason.NO_READY_INSTANCE
        message = "spec.lifecycle is NotInstantiated: no instance serves the access points"
    elif app.spec.operational_state == OperationalState.STOPPED:
        status, reason = FALSE, LatencySloReason.NO_READY_INSTANCE
        message = "spec.operationalState is Stopped: no instance serves the access points"
    elif not total:
        status, reason = ConditionStatus.UNKNOWN, LatencySloReason.NO_LATENCY_DATA
        message = "no access point with a known latency to any eligible host"
    elif plan.uncovered:
        status, reason = FALSE, LatencySloReason.ACCESS_POINTS_UNCOVERED
        why = (
            "no known latency to a planned host"
            if plan.hosts
            else "nothing is placed, see the Placed condition"
        )
        message = (
            f"{count(len(plan.uncovered), 'access point')} have no instance serving them "
            f"({why}): {listed(plan.uncovered)}"
        )
        if plan.over_budget:
            message += f"; {over_budget_text(plan.over_budget, budget)}"
    elif not ready & set(serving.values()):
        status, reason = FALSE, LatencySloReason.NO_READY_INSTANCE
        message = (
            f"no instance serving the access points is Ready yet (waiting for {listed(waiting)})"
        )
    elif plan.over_budget:
        status, reason = FALSE, LatencySloReason.OVER_BUDGET
        message = (
            f"{over_budget_text(plan.over_budget, budget)}; {len(plan.coverage)}/{total} access "
            f"points within {budget:g} ms"
        )
    elif waiting:
        late = sorted(ap for ap, host in serving.items() if host not in ready)
        status, reason = FALSE, LatencySloReason.NO_READY_INSTANCE
        message = (
            f"{len(late)}/{total} access points wait for their instance to be Ready: "
            f"{listed(late)} (waiting for {listed(waiting)})"
        )
    else:
        status, reason = TRUE, LatencySloReason.WITHIN_BUDGET
        message = (
            f"all {total} access points have a Ready instance within {budget:g} ms"
            f" ({users} user(s) attached)"
        )
    return NewCondition(
        type=EdgeAppConditionType.LATENCY_SLO_MET,
        status=status,
        reason=reason,
        message=message,
        observed_generation=app.metadata.generation,
    )


_NOT_PLACED: dict[PlacedReason, DegradedReason] = {
    PlacedReason.NO_EDGE_HOST: DegradedReason.NO_EDGE_HOST,
    PlacedReason.NO_ELIGIBLE_HOST: DegradedReason.NO_ELIGIBLE_HOST,
    PlacedReason.NO_LATENCY_DATA: DegradedReason.NO_LATENCY_DATA,
}


def _degraded(app: EdgeApp, plan: InstancePlan) -> NewCondition:
    """Degraded names the first real cause: hosts lost, no host at all, or over budget."""
    problems: list[tuple[DegradedReason, str]] = []
    if plan.evacuated:
        problems.append(
            (
                DegradedReason.HOSTS_LOST,
                f"evacuated from unavailable host(s) {', '.join(plan.evacuated)}",
            )
        )
    if (cause := _NOT_PLACED.get(plan.reason)) is not None:
        full = bool(plan.ineligible) and all(
            why is Ineligible.FULL for why in plan.ineligible.values()
        )
        problems.append((DegradedReason.NO_CAPACITY if full else cause, plan.message))
    if plan.over_budget:
        problems.append(
            (
                DegradedReason.OVER_BUDGET,
                over_budget_text(plan.over_budget, app.spec.latency.max_ms),
            )
        )
    return NewCondition(
        type=EdgeAppConditionType.DEGRADED,
        status=TRUE if problems else FALSE,
        reason=problems[0][0] if problems else DegradedReason.AS_PLANNED,
        message="; ".join(m for _, m in problems) or "running as planned",
        observed_generation=app.metadata.generation,
    )


def _handovers(app: EdgeApp, handovers: int) -> NewCondition:
    """HandoverInProgress: users of the app are being moved between its instances now."""
    return NewCondition(
        type=EdgeAppConditionType.HANDOVER_IN_PROGRESS,
        status=TRUE if handovers else FALSE,
        reason=HandoverReason.IN_PROGRESS if handovers else HandoverReason.NONE,
        message=f"{handovers} user(s) being moved between instances"
        if handovers
        else "no user is being moved",
        observed_generation=app.metadata.generation,
    )


def _conditions(
    app: EdgeApp, plan: InstancePlan, instances: Sequence[Instance], users: int, handovers: int
) -> list[NewCondition]:
    return [
        _placed(plan, app.metadata.generation),
        _ready(app, plan, instances),
        _latency_slo(app, plan, instances, users),
        _handovers(app, handovers),
        _degraded(app, plan),
    ]


def build_status(
    app: EdgeApp,
    plan: InstancePlan,
    instances: list[Instance],
    now: datetime,
    handovers: int = 0,
) -> EdgeAppStatus:
    """The whole status subresource for the app after this reconciliation.

    handovers: how many of its users are being moved between instances now.
    """
    previous = app.status.conditions if app.status and app.status.conditions else []
    users = sum(i.users for i in instances)
    conditions = list(previous)
    for new in _conditions(app, plan, instances, users, handovers):
        conditions = set_condition(conditions, new, now)
    instantiated = plan.reason is not PlacedReason.NOT_INSTANTIATED
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
