"""The AppLcmOpOcc resource: one MEC 010-2 application lifecycle operation occurrence.

Each instantiate, terminate or operate request to the REST API (`/app_lcm/v1`) is recorded as an
AppLcmOpOcc next to the EdgeApp it changes; `/app_lcm/v1/app_lcm_op_occs` is served from these
objects and `kubectl get lcmop` shows the same ones. The spec says what was asked (and is not
changed afterwards, except `timeoutSeconds` and `request`); the status is the operation's state,
written by one writer, the operator, which judges from the EdgeApp's conditions whether the
operation has completed. A client's retry, fail or cancel is recorded in `spec.request` (with a
sequence number, so asking twice is two requests) and applied by the operator, which records the
sequence it handled in `status.lastRequest`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from mec_orchestrator.model.base import ApiModel, DnsSubdomain, EtsiEnum, ObjectMeta, Time
from mec_orchestrator.model.edgeapp import OperationalState

APP_INSTANCE_LABEL = "mec.dev/app-instance"
"""Label carrying spec.appInstanceId on every AppLcmOpOcc, for listing one instance's operations."""

MAX_TIMEOUT_SECONDS = 86400


class LcmOperation(EtsiEnum):
    """MEC 010-2 lifecycle operation (`etsi`: `INSTANTIATE`, `OPERATE`, `TERMINATE`)."""

    INSTANTIATE = "Instantiate"
    OPERATE = "Operate"
    TERMINATE = "Terminate"


class LcmOperationState(EtsiEnum):
    """MEC 010-2 operation state (`etsi`: `PROCESSING`, `COMPLETED`, `FAILED_TEMP`, `FAILED`)."""

    PROCESSING = "Processing"
    COMPLETED = "Completed"
    FAILED_TEMP = "FailedTemp"
    FAILED = "Failed"

    @property
    def final(self) -> bool:
        """COMPLETED and FAILED end the occurrence: nothing changes it afterwards."""
        return self in (LcmOperationState.COMPLETED, LcmOperationState.FAILED)


class CancelMode(EtsiEnum):
    """MEC 010-2 CancelMode (`etsi`: `GRACEFUL`, `FORCED`)."""

    GRACEFUL = "Graceful"
    FORCED = "Forced"


class LcmRequestAction(EtsiEnum):
    """What a client asked of an occurrence (MEC 010-2 retry, fail, cancel tasks)."""

    RETRY = "Retry"
    FAIL = "Fail"
    CANCEL = "Cancel"


class LcmRequest(ApiModel):
    """The newest retry, fail or cancel request of a client, for the operator to apply."""

    action: LcmRequestAction
    cancel_mode: CancelMode | None = None
    sequence: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _mode_with_cancel(self) -> Self:
        if (self.cancel_mode is not None) != (self.action is LcmRequestAction.CANCEL):
            raise ValueError("spec.request.cancelMode is set exactly when action is Cancel")
        return self


class LcmError(ApiModel):
    """Why an operation failed, as an RFC 7807 ProblemDetails."""

    type: Annotated[str, Field(max_length=2048)] | None = None
    title: Annotated[str, Field(min_length=1, max_length=256)]
    status: Annotated[int, Field(ge=100, le=599)]
    detail: Annotated[str, Field(max_length=4096)]
    instance: Annotated[str, Field(max_length=2048)] | None = None


class AppLcmOpOccSpec(ApiModel):
    """What was asked: the operation, its app instance and parameters; and client requests."""

    app_instance_id: Annotated[DnsSubdomain, Field(max_length=63)]
    lcm_operation: LcmOperation
    change_state_to: OperationalState | None = None
    operation_params: dict[str, Any] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = None
    request: LcmRequest | None = None

    @model_validator(mode="after")
    def _target_with_operate(self) -> Self:
        if (self.change_state_to is not None) != (self.lcm_operation is LcmOperation.OPERATE):
            raise ValueError("spec.changeStateTo is set exactly when lcmOperation is Operate")
        return self


class AppLcmOpOccStatus(ApiModel):
    """The state of the operation, as the operator judges it."""

    operation_state: LcmOperationState
    start_time: Time
    state_entered_time: Time
    is_cancel_pending: bool | None = None
    cancel_mode: CancelMode | None = None
    error: LcmError | None = None
    last_request: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _mode_when_pending(self) -> Self:
        if (self.cancel_mode is not None) != bool(self.is_cancel_pending):
            raise ValueError("status.cancelMode is set exactly when isCancelPending is true")
        return self


class AppLcmOpOcc(ApiModel):
    """An application LCM operation occurrence (kind AppLcmOpOcc, namespaced, short `lcmop`)."""

    KIND: ClassVar[str] = "AppLcmOpOcc"
    PLURAL: ClassVar[str] = "applcmopoccs"
    NAMESPACED: ClassVar[bool] = True

    api_version: Literal["mec.dev/v1alpha1"] = "mec.dev/v1alpha1"
    kind: Literal["AppLcmOpOcc"] = "AppLcmOpOcc"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: AppLcmOpOccSpec
    status: AppLcmOpOccStatus | None = None
