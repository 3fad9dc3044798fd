"""GS MEC 010-2 v3.1.1 application lifecycle management, `/app_lcm/v1`, served from EdgeApps.

An app instance is an EdgeApp, its appInstanceId the EdgeApp's (generated) name: one created here
is what `kubectl get ea` shows, and one declared with kubectl is served here too. Instantiate,
operate and terminate change the EdgeApp's spec (`lifecycle`, `operationalState`,
`placement.hosts`) and record an AppLcmOpOcc (`kubectl get lcmop`), which the operator
(`operator/lcm_ops.py`) moves to COMPLETED when the EdgeApp's conditions show the change, or to
FAILED_TEMP after a timeout; after its creation the operator is the only writer of its status, so
retry, fail and cancel are recorded as requests in its spec and applied by the operator.

Status codes follow the file; a state conflict (instantiate an instantiated instance, delete one
that is not NOT_INSTANTIATED, retry a COMPLETED operation) is a 409 as GS MEC 010-2's text and the
file's own `409` response component describe it, although the v3.1.1 file's operations do not
list it. docs/api.md lists every operation and the choices made where the GS is silent.

One module per resource group: `instances` (app instances), `lifecycle` (instantiate, terminate,
operate), `operations` (operation occurrences and their retry, fail, cancel), `subscriptions`;
`shared` and `representations` hold what they share. The routes are registered in that order.
"""

from __future__ import annotations

from fastapi import APIRouter

from mec_orchestrator.api.routers.app_lcm import instances, lifecycle, operations, subscriptions
from mec_orchestrator.api.routers.app_lcm.instances import name_prefix
from mec_orchestrator.api.routers.app_lcm.shared import ROOT

__all__ = ["name_prefix", "router"]

router = APIRouter(prefix=ROOT, tags=["app-lcm"])
for _part in (instances, lifecycle, operations, subscriptions):
    router.include_router(_part.router)
