"""The lifecycle judge: an operation completes only when the EdgeApp shows it, fails in time.

Examples for each operation, then properties over random EdgeApp facts, clocks and requests:
COMPLETED needs the conditions (never just a write), FAILED_TEMP comes only after the timeout and
carries the condition's message, final states never change, and `next_status` is a fixpoint
(a status it returns, stored, leads to no further write), so the level-triggered operator writes
each change once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.instances.views import ObservedInstance
from mec_orchestrator.decisions.lcm import (
    AppFacts,
    Verdict,
    effective_status,
    initial_status,
    judge_operation,
    next_status,
    refusal,
)
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
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=300)
PLACED, READY = EdgeAppConditionType.PLACED, EdgeAppConditionType.READY
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


def condition(
    kind: EdgeAppConditionType, status: ConditionStatus, message: str, generation: int = 2
) -> Condition:
    return Condition(
        type=kind,
        status=status,
        reason="Because",
        message=message,
        observed_generation=generation,
        last_transition_time=T0,
    )


def facts(
    *,
    generation: int = 2,
    observed: int | None = 2,
    state: InstantiationState = InstantiationState.INSTANTIATED,
    operational: OperationalState | None = OperationalState.STARTED,
    placed: ConditionStatus = TRUE,
    ready: ConditionStatus = TRUE,
    instances: tuple[ObservedInstance, ...] = (),
) -> AppFacts:
    status = EdgeAppStatus(
        instantiation_state=state,
        operational_state=operational,
        observed_generation=observed,
        conditions=[
            condition(PLACED, placed, "placed message", observed or 0),
            condition(READY, ready, "ready message", observed or 0),
        ],
    )
    return AppFacts(generation=generation, status=status, instances=instances)


def deployment(name: str, desired: int = 1, pods: int = 1) -> ObservedInstance:
    return ObservedInstance(
        host=name, deployment=f"app-{name}", desired_replicas=desired, ready_replicas=pods,
        updated_replicas=pods, replicas=pods,
    )  # fmt: skip


def judge(
    operation: LcmOperation,
    app: AppFacts | None,
    *,
    elapsed: float = 1,
    target: OperationalState | None = None,
) -> tuple[Verdict, str]:
    judged = judge_operation(
        operation, target, app, started_at=T0, now=T0 + timedelta(seconds=elapsed), timeout=TIMEOUT
    )
    return judged.verdict, judged.detail


# -- examples ------------------------------------------------------------------------------------


def test_instantiate_completes_when_ready_for_the_current_generation() -> None:
    assert judge(LcmOperation.INSTANTIATE, facts())[0] is Verdict.COMPLETED
    # Ready for an older generation (the operator has not seen the new spec yet): wait
    verdict, why = judge(LcmOperation.INSTANTIATE, facts(generation=3))
    assert verdict is Verdict.WAIT
    assert "generation 3" in why
    # not ready yet: wait, saying what Ready says
    verdict, why = judge(LcmOperation.INSTANTIATE, facts(ready=FALSE))
    assert (verdict, why) == (Verdict.WAIT, "Ready is False (Because): ready message")


def test_instantiate_times_out_with_the_placed_message_when_not_placed() -> None:
    app = facts(placed=FALSE, ready=FALSE)
    assert judge(LcmOperation.INSTANTIATE, app, elapsed=299)[0] is Verdict.WAIT
    verdict, detail = judge(LcmOperation.INSTANTIATE, app, elapsed=300)
    assert verdict is Verdict.FAILED_TEMP
    assert detail == (
        "INSTANTIATE not completed within 300 s: Placed is False (Because): placed message"
    )
    verdict, detail = judge(LcmOperation.INSTANTIATE, facts(ready=FALSE), elapsed=301)
    assert verdict is Verdict.FAILED_TEMP
    assert detail.endswith("Ready is False (Because): ready message")


def test_terminate_completes_when_no_instance_is_left() -> None:
    gone = facts(state=InstantiationState.NOT_INSTANTIATED, operational=None, ready=FALSE)
    assert judge(LcmOperation.TERMINATE, gone)[0] is Verdict.COMPLETED
    left = facts(
        state=InstantiationState.NOT_INSTANTIATED, operational=None, instances=(deployment("a"),)
    )
    verdict, why = judge(LcmOperation.TERMINATE, left)
    assert (verdict, why) == (Verdict.WAIT, "1 instance Deployment(s) left: app-a")
    assert judge(LcmOperation.TERMINATE, None)[0] is Verdict.COMPLETED  # the EdgeApp is gone


def test_stop_completes_when_every_instance_is_scaled_to_zero() -> None:
    stopped = OperationalState.STOPPED
    draining = facts(operational=stopped, ready=FALSE, instances=(deployment("a", desired=0),))
    verdict, why = judge(LcmOperation.OPERATE, draining, target=stopped)
    assert (verdict, why) == (Verdict.WAIT, "1 instance(s) still running: app-a")
    zero = facts(operational=stopped, ready=FALSE, instances=(deployment("a", 0, 0),))
    assert judge(LcmOperation.OPERATE, zero, target=stopped)[0] is Verdict.COMPLETED
    started = OperationalState.STARTED
    assert judge(LcmOperation.OPERATE, facts(), target=started)[0] is Verdict.COMPLETED
    assert judge(LcmOperation.OPERATE, zero, target=started)[0] is Verdict.WAIT


def test_instantiate_or_operate_of_a_deleted_app_fails_for_good() -> None:
    assert judge(LcmOperation.INSTANTIATE, None)[0] is Verdict.FAILED
    assert judge(LcmOperation.OPERATE, None, target=OperationalState.STOPPED)[0] is Verdict.FAILED


def occurrence(
    operation: LcmOperation = LcmOperation.INSTANTIATE,
    status: AppLcmOpOccStatus | None = None,
    request: LcmRequest | None = None,
    timeout_seconds: int | None = None,
) -> AppLcmOpOcc:
    spec: dict[str, Any] = {"appInstanceId": "app-1", "lcmOperation": operation.value}
    if operation is LcmOperation.OPERATE:
        spec["changeStateTo"] = "Stopped"
    if request is not None:
        spec["request"] = request.to_dict()
    if timeout_seconds is not None:
        spec["timeoutSeconds"] = timeout_seconds
    body: dict[str, Any] = {
        "metadata": {
            "name": "op-1",
            "namespace": "ns",
            "creationTimestamp": "2026-03-01T12:00:00Z",
        },
        "spec": spec,
    }
    if status is not None:
        body["status"] = status.to_dict()
    return AppLcmOpOcc.model_validate(body)


def state(
    operation_state: LcmOperationState, entered: datetime = T0, **more: Any
) -> AppLcmOpOccStatus:
    return AppLcmOpOccStatus(
        operation_state=operation_state, start_time=T0, state_entered_time=entered, **more
    )


def test_an_unwritten_occurrence_is_processing_since_its_creation() -> None:
    occ = occurrence()
    assert initial_status(occ, T0 + timedelta(hours=1)) == state(LcmOperationState.PROCESSING)
    written = next_status(occ, facts(ready=FALSE), T0 + timedelta(seconds=5), TIMEOUT)
    assert written == state(LcmOperationState.PROCESSING)
    done = next_status(occ, facts(), T0 + timedelta(seconds=5), TIMEOUT)
    assert done is not None
    assert done.operation_state is LcmOperationState.COMPLETED
    assert done.state_entered_time == T0 + timedelta(seconds=5)


def test_retry_restarts_the_clock_and_fail_ends_it() -> None:
    failed_temp = state(
        LcmOperationState.FAILED_TEMP, error=LcmError(title="t", status=504, detail="d")
    )
    now = T0 + timedelta(seconds=400)
    retry = LcmRequest(action=LcmRequestAction.RETRY, sequence=1)
    retried = next_status(occurrence(status=failed_temp, request=retry), facts(ready=FALSE), now,
                          TIMEOUT)  # fmt: skip
    assert retried == state(LcmOperationState.PROCESSING, entered=now, last_request=1)
    fail = LcmRequest(action=LcmRequestAction.FAIL, sequence=2)
    ended = next_status(occurrence(status=failed_temp, request=fail), None, now, TIMEOUT)
    assert ended is not None
    assert ended.operation_state is LcmOperationState.FAILED
    assert ended.error == failed_temp.error  # the reason it failed stays
    assert next_status(occurrence(status=ended, request=retry), None, now, TIMEOUT) is None


def test_cancel_forced_at_once_graceful_after_the_rollout() -> None:
    processing = state(LcmOperationState.PROCESSING)
    now = T0 + timedelta(seconds=10)
    forced = LcmRequest(action=LcmRequestAction.CANCEL, cancel_mode=CancelMode.FORCED, sequence=1)
    out = next_status(occurrence(status=processing, request=forced), facts(), now, TIMEOUT)
    assert out is not None
    assert (out.operation_state, out.last_request) == (LcmOperationState.FAILED_TEMP, 1)
    assert out.error is not None
    assert "FORCED" in out.error.detail
    graceful = forced.model_copy(update={"cancel_mode": CancelMode.GRACEFUL})
    waiting = next_status(
        occurrence(status=processing, request=graceful), facts(ready=FALSE), now, TIMEOUT
    )
    assert waiting == state(
        LcmOperationState.PROCESSING, is_cancel_pending=True, cancel_mode=CancelMode.GRACEFUL,
        last_request=1,
    )  # fmt: skip
    # the rollout ends (Ready): the operation is cancelled, not completed
    cancelled = next_status(occurrence(status=waiting), facts(), now, TIMEOUT)
    assert cancelled is not None
    assert cancelled.operation_state is LcmOperationState.FAILED_TEMP
    assert (cancelled.is_cancel_pending, cancelled.cancel_mode) == (None, None)


def test_requests_the_state_does_not_allow_are_refused() -> None:
    retry = LcmRequest(action=LcmRequestAction.RETRY, sequence=1)
    cancel = LcmRequest(action=LcmRequestAction.CANCEL, cancel_mode=CancelMode.GRACEFUL, sequence=1)
    assert refusal(state(LcmOperationState.COMPLETED), retry) == (
        "only a FAILED_TEMP operation can be retried; this one is COMPLETED"
    )
    assert refusal(state(LcmOperationState.FAILED_TEMP), cancel) == (
        "only a PROCESSING operation can be cancelled; this one is FAILED_TEMP"
    )
    assert refusal(state(LcmOperationState.FAILED_TEMP), retry) is None


def test_the_timeout_of_the_occurrence_wins_over_the_default() -> None:
    occ = occurrence(status=state(LcmOperationState.PROCESSING), timeout_seconds=5)
    out = next_status(occ, facts(ready=FALSE), T0 + timedelta(seconds=5), TIMEOUT)
    assert out is not None
    assert out.operation_state is LcmOperationState.FAILED_TEMP
    assert out.error is not None
    assert out.error.detail.startswith("INSTANTIATE not completed within 5 s")


# -- properties ----------------------------------------------------------------------------------

statuses = st.sampled_from(ConditionStatus)
generations = st.integers(min_value=1, max_value=3)


@st.composite
def app_facts(draw: st.DrawFn) -> AppFacts | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    observed = draw(st.none() | generations)
    instances = draw(
        st.lists(
            st.builds(
                ObservedInstance,
                host=st.sampled_from(["a", "b", "c"]),
                deployment=st.sampled_from(["app-a", "app-b", "app-c"]),
                desired_replicas=st.integers(0, 1),
                ready_replicas=st.integers(0, 1),
                updated_replicas=st.none() | st.integers(0, 1),
                rollout_observed=st.booleans(),
                replicas=st.none() | st.integers(0, 2),
            ),
            max_size=3,
        )
    )
    conditions = [
        condition(kind, draw(statuses), f"{kind} says", draw(generations))
        for kind in (PLACED, READY)
        if draw(st.booleans())
    ]
    status = draw(
        st.none()
        | st.builds(
            EdgeAppStatus,
            instantiation_state=st.none() | st.sampled_from(InstantiationState),
            operational_state=st.none() | st.sampled_from(OperationalState),
            observed_generation=st.just(observed),
            conditions=st.just(conditions),
        )
    )
    return AppFacts(generation=draw(generations), status=status, instances=tuple(instances))


operations = st.sampled_from(LcmOperation)
targets = st.sampled_from(OperationalState)
elapsed = st.integers(min_value=0, max_value=600)


@given(operations, targets, app_facts(), elapsed)
def test_completed_only_when_the_app_shows_it(
    operation: LcmOperation, target: OperationalState, app: AppFacts | None, seconds: int
) -> None:
    verdict, _ = judge(operation, app, elapsed=seconds, target=target)
    if verdict is not Verdict.COMPLETED:
        return
    if app is None:
        assert operation is LcmOperation.TERMINATE
        return
    assert app.status is not None
    assert app.status.observed_generation == app.generation
    if operation is LcmOperation.TERMINATE:
        assert app.status.instantiation_state is InstantiationState.NOT_INSTANTIATED
        assert app.instances == ()
    elif operation is LcmOperation.OPERATE and target is OperationalState.STOPPED:
        assert app.status.operational_state is OperationalState.STOPPED
        assert all(i.desired_replicas == 0 and not i.replicas for i in app.instances)
    else:
        ready = app.condition(READY)
        assert ready is not None
        assert ready.status is TRUE
        assert ready.observed_generation == app.generation
        assert app.status.instantiation_state is InstantiationState.INSTANTIATED


@given(operations, targets, app_facts(), elapsed)
def test_failed_temp_only_after_the_timeout_and_says_why(
    operation: LcmOperation, target: OperationalState, app: AppFacts | None, seconds: int
) -> None:
    verdict, detail = judge(operation, app, elapsed=seconds, target=target)
    if verdict is Verdict.FAILED:
        assert app is None
        assert operation is not LcmOperation.TERMINATE
    if verdict is Verdict.FAILED_TEMP:
        assert seconds >= TIMEOUT.total_seconds()
        assert "not completed within 300 s" in detail
        assert app is not None
        placed = app.condition(PLACED)
        starting = operation is LcmOperation.INSTANTIATE or (
            operation is LcmOperation.OPERATE and target is OperationalState.STARTED
        )  # the target of an Operate only: a Terminate waits for its instances to go
        if starting and app.current and placed is not None and placed.status is not TRUE:
            assert "Placed says" in detail
    if seconds >= TIMEOUT.total_seconds() and app is not None:
        assert verdict in (Verdict.COMPLETED, Verdict.FAILED_TEMP)


operation_states = st.sampled_from(LcmOperationState)


@st.composite
def occurrences(draw: st.DrawFn) -> AppLcmOpOcc:
    operation = draw(operations)
    written = draw(st.booleans())
    status: AppLcmOpOccStatus | None = None
    if written:
        operation_state = draw(operation_states)
        pending = operation_state is LcmOperationState.PROCESSING and draw(st.booleans())
        status = AppLcmOpOccStatus(
            operation_state=operation_state,
            start_time=T0,
            state_entered_time=T0 + timedelta(seconds=draw(st.integers(0, 100))),
            is_cancel_pending=True if pending else None,
            cancel_mode=CancelMode.GRACEFUL if pending else None,
            error=LcmError(title="t", status=504, detail="d")
            if operation_state is LcmOperationState.FAILED_TEMP
            else None,
            last_request=draw(st.none() | st.integers(0, 2)),
        )
    request = None
    if draw(st.booleans()):
        action = draw(st.sampled_from(LcmRequestAction))
        mode = draw(st.sampled_from(CancelMode)) if action is LcmRequestAction.CANCEL else None
        request = LcmRequest(action=action, cancel_mode=mode, sequence=draw(st.integers(1, 3)))
    timeout = draw(st.none() | st.integers(1, 400))
    return occurrence(operation, status, request, timeout)


@given(occurrences(), app_facts(), st.integers(0, 1000))
def test_next_status_is_a_fixpoint(occ: AppLcmOpOcc, app: AppFacts | None, seconds: int) -> None:
    now = T0 + timedelta(seconds=seconds)
    first = next_status(occ, app, now, TIMEOUT)
    if first is None:
        return
    stored = occ.model_copy(update={"status": first})
    assert next_status(stored, app, now, TIMEOUT) is None


@given(occurrences(), app_facts(), st.integers(0, 1000))
def test_final_states_never_change(occ: AppLcmOpOcc, app: AppFacts | None, seconds: int) -> None:
    if occ.status is not None and occ.status.operation_state.final:
        assert next_status(occ, app, T0 + timedelta(seconds=seconds), TIMEOUT) is None


@given(occurrences(), st.integers(0, 1000))
def test_a_refused_request_changes_nothing_but_is_handled(occ: AppLcmOpOcc, seconds: int) -> None:
    now = T0 + timedelta(seconds=seconds)
    before = occ.status or initial_status(occ, now)
    after = effective_status(occ, now)
    request = occ.spec.request
    if request is None or request.sequence <= (before.last_request or 0):
        assert after == before
        return
    assert after.last_request == request.sequence
    if refusal(before, request) is not None:
        assert after.model_copy(update={"last_request": before.last_request}) == before
    else:
        assert after != before
