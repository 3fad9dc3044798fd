"""The AppInstanceInfo and AppLcmOpOccInfo of EdgeApps and AppLcmOpOccs (pure).

What the API answers is built from the Kubernetes objects here, in one place, so an instance
created with kubectl and one created through the API read the same (docs/api.md lists the
values of fields the objects do not hold).
"""

from __future__ import annotations

from datetime import datetime

from mec_orchestrator.api.problems import (
    ProblemDetails,
)
from mec_orchestrator.api.routers.app_lcm.shared import (
    INSTANCES,
    OP_OCCS,
)
from mec_orchestrator.api.schemas.app_lcm import (
    AppInstanceInfo,
    AppInstanceLinks,
    AppLcmOpOccInfo,
    AppLcmOpOccLinks,
    CancelModeInfo,
    CommunicationInterface,
    InstantiatedAppState,
    IpAddress,
    McioInfo,
)
from mec_orchestrator.api.schemas.common import LinkType, TimeStamp
from mec_orchestrator.decisions.lcm import initial_status
from mec_orchestrator.decisions.lcm.notifications import INSTANCE_NAME_ANNOTATION, instance_facts
from mec_orchestrator.model import (
    AppLcmOpOcc,
    AppPackage,
    EdgeApp,
    EdgeAppStatus,
    InstantiationState,
    LcmOperation,
    OperationalState,
)

NAME_ANNOTATION = INSTANCE_NAME_ANNOTATION
"""The CreateAppInstanceRequest's appInstanceName, kept on the EdgeApp."""
DESCRIPTION_ANNOTATION = "mec.dev/app-instance-description"
"""The CreateAppInstanceRequest's appInstanceDescription, kept on the EdgeApp."""
CISM_ID = "kubernetes"
"""The CISM that manages every MCIO (the one Kubernetes the edge hosts are nodes of)."""


def _observed(app: EdgeApp) -> EdgeAppStatus | None:
    """The status if the operator has seen the current spec (else the spec's values count)."""
    status = app.status
    return (
        status
        if status is not None and status.observed_generation == app.metadata.generation
        else None
    )


def instantiation_state(app: EdgeApp) -> InstantiationState:
    """From the status when the operator has seen the current spec, else the spec's."""
    status = _observed(app)
    if status is not None and status.instantiation_state is not None:
        return status.instantiation_state
    return app.spec.lifecycle


def operational_state(app: EdgeApp) -> OperationalState:
    """From the status when the operator has seen the current spec, else the spec's."""
    status = _observed(app)
    if status is not None and status.operational_state is not None:
        return status.operational_state
    return app.spec.operational_state


def _ip_address(endpoint: str | None) -> IpAddress | None:
    if not endpoint or ":" not in endpoint or "://" in endpoint:
        return None
    host, _, port = endpoint.rpartition(":")
    return IpAddress(host=host, port=int(port)) if port.isdigit() and host else None


def instance_info(app: EdgeApp, package: AppPackage | None, base: str) -> AppInstanceInfo:
    """The AppInstanceInfo of an EdgeApp (docs/api.md: the values of one declared with kubectl)."""
    name = app.metadata.name or ""
    href = f"{base}{INSTANCES}/{name}"
    state = instantiation_state(app)
    instantiated = state is InstantiationState.INSTANTIATED
    annotations = app.metadata.annotations or {}
    instances = app.status.instances if app.status and app.status.instances else []
    running = operational_state(app)
    app_state = None
    if instantiated:
        mcios = [
            McioInfo(
                mcio_id=i.deployment,
                mcio_name=i.deployment,
                mcio_namespace=app.metadata.namespace or "",
                vdu_id=app.spec.app_name,
                cism_id=CISM_ID,
                mcio_type="Deployment",
                desired_instances=0 if running is OperationalState.STOPPED else 1,
                available_instances=1 if i.ready else 0,
                additional_info=f"edge host {i.host}",
            )
            for i in instances
        ]
        app_state = InstantiatedAppState(operational_state=running.etsi, mcio_info=mcios or None)
    addresses = [a for a in (_ip_address(i.endpoint) for i in instances) if a is not None]
    facts = instance_facts(app, package)  # what subscription filters match on, too
    return AppInstanceInfo(
        id=facts.id,
        app_instance_name=facts.app_instance_name,
        app_instance_description=annotations.get(DESCRIPTION_ANNOTATION),
        app_d_id=facts.app_d_id,
        app_provider=facts.app_provider,
        app_name=facts.app_name,
        app_soft_version=facts.app_soft_version,
        app_d_version=facts.app_d_version,
        app_pkg_id=facts.app_pkg_id,
        instantiation_state=state.etsi,
        instantiated_app_state=app_state,
        communication_interface=CommunicationInterface(ip_addresses=addresses)
        if instantiated and addresses
        else None,
        links=AppInstanceLinks(
            self_=LinkType(href=href),
            instantiate=None if instantiated else LinkType(href=f"{href}/instantiate"),
            terminate=LinkType(href=f"{href}/terminate") if instantiated else None,
            operate=LinkType(href=f"{href}/operate") if instantiated else None,
        ),
    )


def op_occ_info(occ: AppLcmOpOcc, base: str, now: datetime) -> AppLcmOpOccInfo:
    """The AppLcmOpOcc representation of an occurrence (an unwritten status is PROCESSING).

    operationParams is given for INSTANTIATE only: the file types it as InstantiateAppRequest
    (the GS: the request of whichever operation), so OPERATE's and TERMINATE's requests would
    not validate; they are in the object's spec.operationParams (`kubectl get lcmop -o yaml`).
    """
    status = occ.status or initial_status(occ, now)
    error = status.error
    return AppLcmOpOccInfo(
        id=occ.metadata.name or "",
        operation_state=status.operation_state.etsi,
        state_entered_time=TimeStamp.of(status.state_entered_time),
        start_time=TimeStamp.of(status.start_time),
        lcm_operation=occ.spec.lcm_operation.etsi,
        operation_params=occ.spec.operation_params
        if occ.spec.lcm_operation is LcmOperation.INSTANTIATE
        else None,
        is_cancel_pending=bool(status.is_cancel_pending),
        cancel_mode=CancelModeInfo(cancel_mode=status.cancel_mode.etsi)
        if status.cancel_mode is not None
        else None,
        error=ProblemDetails(
            type=error.type or "about:blank",
            title=error.title,
            status=error.status,
            detail=error.detail,
            instance=error.instance,
        )
        if error is not None
        else None,
        links=AppLcmOpOccLinks(
            self_=LinkType(href=f"{base}{OP_OCCS}/{occ.metadata.name}"),
            app_instance=LinkType(href=f"{base}{INSTANCES}/{occ.spec.app_instance_id}"),
        ),
    )
