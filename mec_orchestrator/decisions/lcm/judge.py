"""When a MEC 010-2 lifecycle operation is done, and the occurrence's next status.

An operation is judged by what the cluster shows, never by the write that started it having been
accepted:

- **Instantiate**, **Operate to STARTED**: COMPLETED when the EdgeApp's `Ready` condition is True
  for its current generation (every instance rolled out, as `kubectl rollout status` judges).
- **Operate to STOPPED**: COMPLETED when the status (of the current generation) says Stopped and
  every instance Deployment wants no pod and has none left.
- **Terminate**: COMPLETED when the status says NotInstantiated and no instance Deployment is
  left (or the EdgeApp is gone altogether).

An operation still PROCESSING `timeout` after it entered that state turns FAILED_TEMP, its error
detail saying why from the EdgeApp (the `Placed` condition's message when the app is not placed,
else `Ready`'s; the Deployments left for terminate and stop). An instantiate or operate whose
EdgeApp was deleted is FAILED: retrying cannot help.

Requests (`spec.request`, with a sequence number) are applied once, before judging: retry
(FAILED_TEMP -> PROCESSING, the clock restarts), fail (FAILED_TEMP -> FAILED), cancel (PROCESSING
only: FORCED turns FAILED_TEMP at once; GRACEFUL sets isCancelPending and turns FAILED_TEMP when
the rollout under way finished or timed out). A request the state no longer allows is recorded as
handled and changes nothing. COMPLETED and FAILED are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppLcmOpOccStatus,
    CancelMode,
    Condition,
    ConditionStatus,
    EdgeAppConditionType,
    EdgeAppStatus,
    InstantiationState,
    LcmError,
    LcmOperation,
    LcmOperationState,
    LcmRequest,
    LcmRequestAction,
    OperationalState,
    find_condition,
)

PROCESSING = LcmOperationState.PROCESSING
COMPLETED = LcmOperationState.COMPLETED
FAILED_TEMP = LcmOperationState.FAILED_TEMP
FAILED = LcmOperationState.FAILED

MAX_DETAIL = 4096


@dataclass(frozen=True)
class AppFacts:
    """What the operator sees of the EdgeApp an operation changes.

    `generation` is the EdgeApp's metadata.generation, `status` its status, `instances` its
    instance Deployments as they are now (not as the status last reported them).
    """

    generation: int | None
    status: EdgeAppStatus | None
    instances: tuple[ObservedInstance, ...] = ()

    @property
    def current(self) -> bool:
        """The status was computed for the EdgeApp's current spec."""
        return self.status is not None and self.status.observed_generation == self.generation

    def condition(self, kind: EdgeAppConditionType) -> Condition | None:
        conditions = self.status.conditions if self.status and self.status.conditions else []
        return find_condition(conditions, kind)


class Verdict(StrEnum):
    """What the judge says of an operation in PROCESSING."""

    WAIT = "Wait"
    COMPLETED = "Completed"
    FAILED_TEMP = "FailedTemp"
    FAILED = "Failed"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    detail: str  # why (for WAIT: what is awaited; for the failures: the error's detail)


def _ready_now(app: AppFacts) -> bool:
    ready = app.condition(EdgeAppConditionType.READY)
    return (
        ready is not None
        and ready.status is ConditionStatus.TRUE
        and ready.observed_generation in (None, app.generation)
    )


def _pods_left(instance: ObservedInstance) -> bool:
    return (
        instance.desired_replicas > 0
        or (instance.replicas or 0) > 0
        or instance.ready_replicas > 0
        or not instance.rollout_observed
    )


def _done(operation: LcmOperation, target: OperationalState | None, app: AppFacts) -> bool:
    status = app.status
    if status is None or not app.current:
        return False
    if operation is LcmOperation.TERMINATE:
        return (
            status.instantiation_state is InstantiationState.NOT_INSTANTIATED and not app.instances
        )
    if status.instantiation_state is not InstantiationState.INSTANTIATED:
        return False
    if operation is LcmOperation.OPERATE and target is OperationalState.STOPPED:
        return status.operational_state is OperationalState.STOPPED and not any(
            _pods_left(i) for i in app.instances
        )
    return _ready_now(app)


def _why_not(operation: LcmOperation, target: OperationalState | None, app: AppFacts) -> str:
    if app.status is None:
        return "the orchestrator has not reported on the app instance yet"
    if not app.current:
        return (
            f"the orchestrator has not reconciled generation {app.generation} of the app instance "
            f"yet (its status is for generation {app.status.observed_generation})"
        )
    stopping = operation is LcmOperation.OPERATE and target is OperationalState.STOPPED
    if operation is LcmOperation.TERMINATE or stopping:
        left = sorted(i.deployment for i in app.instances if not stopping or _pods_left(i))
        what = "instance Deployment(s) left" if not stopping else "instance(s) still running"
        if left:
            return f"{len(left)} {what}: {', '.join(left)}"
    placed = app.condition(EdgeAppConditionType.PLACED)
    ready = app.condition(EdgeAppConditionType.READY)
    unplaced = placed is not None and placed.status is not ConditionStatus.TRUE and not stopping
    told = placed if unplaced or ready is None else ready
    if told is None:
        return "the app instance reports no Placed or Ready condition yet"
    return f"{told.type} is {told.status} ({told.reason}): {told.message}"


def judge_operation(
    operation: LcmOperation,
    change_state_to: OperationalState | None,
    app: AppFacts | None,
    *,
    started_at: datetime,
    now: datetime,
    timeout: timedelta,
) -> Judgement:
    """Whether the operation is done, still under way, or out of time.

    `app` None: the EdgeApp is gone. `started_at` is when the operation (re)entered PROCESSING;
    `change_state_to` the target of an Operate (ignored otherwise).
    """
    if app is None:
        if operation is LcmOperation.TERMINATE:
            return Judgement(Verdict.COMPLETED, "the app instance is gone: no instance is left")
        return Judgement(Verdict.FAILED, "the app instance no longer exists")
    if _done(operation, change_state_to, app):
        return Judgement(Verdict.COMPLETED, f"{_describe(operation, change_state_to)} completed")
    why = _why_not(operation, change_state_to, app)
    if now - started_at >= timeout:
        seconds = f"{timeout.total_seconds():g}"
        return Judgement(
            Verdict.FAILED_TEMP,
            f"{_describe(operation, change_state_to)} not completed within {seconds} s: {why}",
        )
    return Judgement(Verdict.WAIT, why)


def _describe(operation: LcmOperation, change_state_to: OperationalState | None) -> str:
    if operation is LcmOperation.OPERATE and change_state_to is not None:
        return f"OPERATE to {change_state_to.etsi}"
    return operation.etsi


# -- the occurrence --------------------------------------------------------------------------


def _at(now: datetime) -> datetime:
    return now.replace(microsecond=0)  # the precision the API server stores


def _with(status: AppLcmOpOccStatus, **changes: Any) -> AppLcmOpOccStatus:
    fields: Mapping[str, Any] = {**status.model_dump(), **changes}
    return AppLcmOpOccStatus.model_validate(fields)


def _error(title: str, status: int, detail: str) -> LcmError:
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    return LcmError(title=title, status=status, detail=detail)


def initial_status(occ: AppLcmOpOcc, now: datetime) -> AppLcmOpOccStatus:
    """PROCESSING since the occurrence was created (the status of one nobody has written yet)."""
    created = occ.metadata.creation_timestamp or _at(now)
    return AppLcmOpOccStatus(
        operation_state=PROCESSING, start_time=created, state_entered_time=created
    )


def refusal(status: AppLcmOpOccStatus, request: LcmRequest) -> str | None:
    """Why the state does not allow the request (a 409's detail), or None when it does."""
    state = status.operation_state
    if request.action is LcmRequestAction.CANCEL:
        if state is not PROCESSING:
            return f"only a PROCESSING operation can be cancelled; this one is {state.etsi}"
        if status.is_cancel_pending and request.cancel_mode is not CancelMode.FORCED:
            return "a GRACEFUL cancel is already pending (only a FORCED cancel can follow it)"
        return None
    if state is not FAILED_TEMP:
        verb = "retried" if request.action is LcmRequestAction.RETRY else "failed"
        return f"only a FAILED_TEMP operation can be {verb}; this one is {state.etsi}"
    return None


def _pending(occ: AppLcmOpOcc, status: AppLcmOpOccStatus) -> LcmRequest | None:
    request = occ.spec.request
    if request is None or request.sequence <= (status.last_request or 0):
        return None
    return request


def _applied(status: AppLcmOpOccStatus, request: LcmRequest, now: datetime) -> AppLcmOpOccStatus:
    handled = _with(status, last_request=request.sequence)
    if refusal(status, request) is not None:
        return handled
    if request.action is LcmRequestAction.RETRY:
        return _with(
            handled,
            operation_state=PROCESSING,
            state_entered_time=_at(now),
            error=None,
            is_cancel_pending=None,
            cancel_mode=None,
        )
    if request.action is LcmRequestAction.FAIL:
        return _with(handled, operation_state=FAILED, state_entered_time=_at(now))
    if request.cancel_mode is CancelMode.GRACEFUL:
        return _with(handled, is_cancel_pending=True, cancel_mode=CancelMode.GRACEFUL)
    return _with(
        handled,
        operation_state=FAILED_TEMP,
        state_entered_time=_at(now),
        is_cancel_pending=None,
        cancel_mode=None,
        error=_error("Operation cancelled", 409, "cancelled (FORCED) by a client request"),
    )


def effective_status(occ: AppLcmOpOcc, now: datetime) -> AppLcmOpOccStatus:
    """The status with the pending request applied: what the next write will start from."""
    status = occ.status or initial_status(occ, now)
    request = _pending(occ, status)
    return _applied(status, request, now) if request is not None else status


def next_status(
    occ: AppLcmOpOcc, app: AppFacts | None, now: datetime, default_timeout: timedelta
) -> AppLcmOpOccStatus | None:
    """The status the occurrence should have now; None when the stored one stands.

    Final occurrences never change. Otherwise the pending request is applied, and an operation
    in PROCESSING is judged (with `spec.timeoutSeconds`, else `default_timeout`). The result is
    a fixpoint: given the same facts and time, the status it returns leads to None.
    """
    if occ.status is not None and occ.status.operation_state.final:
        return None
    status = effective_status(occ, now)
    if status.operation_state is PROCESSING:
        seconds = occ.spec.timeout_seconds
        timeout = timedelta(seconds=seconds) if seconds else default_timeout
        judged = judge_operation(
            occ.spec.lcm_operation,
            occ.spec.change_state_to,
            app,
            started_at=status.state_entered_time,
            now=now,
            timeout=timeout,
        )
        status = _judged(status, judged, now)
    return None if status == occ.status else status


def _judged(status: AppLcmOpOccStatus, judged: Judgement, now: datetime) -> AppLcmOpOccStatus:
    if judged.verdict is Verdict.WAIT:
        return status
    cleared: dict[str, Any] = {
        "state_entered_time": _at(now),
        "is_cancel_pending": None,
        "cancel_mode": None,
    }
    if judged.verdict is Verdict.FAILED:
        error = _error("App instance not found", 404, judged.detail)
        return _with(status, operation_state=FAILED, error=error, **cleared)
    if status.is_cancel_pending:
        detail = f"cancelled (GRACEFUL) once the rollout under way ended: {judged.detail}"
        error = _error("Operation cancelled", 409, detail)
        return _with(status, operation_state=FAILED_TEMP, error=error, **cleared)
    if judged.verdict is Verdict.COMPLETED:
        return _with(status, operation_state=COMPLETED, error=None, **cleared)
    error = _error("Operation timed out", 504, judged.detail)
    return _with(status, operation_state=FAILED_TEMP, error=error, **cleared)
