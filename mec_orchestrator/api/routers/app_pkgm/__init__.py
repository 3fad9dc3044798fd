"""GS MEC 010-2 v3.1.1 application package management, `/app_pkgm/v1`, served from AppPackages.

A package created here is an AppPackage (`kubectl get apkg`) named by a generated id; one
declared with kubectl is served too. `{appDId}` in the paths is the package's appDId once
onboarded; before that only its id exists, so either is accepted (the id first, then the appDId
through the `mec.dev/app-d-id` label). docs/api.md lists what is served and the choices made
where the GS is silent; the pure parts (archives, AppDs, filters, states) are in
`decisions/packages`, the API server calls in `adapters/kube/packages.py`.

Subscriptions are MecSubscriptions (`spec.api: AppPkgm`); onboarding, operational state changes
and deletions are notified (AppPkgNotification) to those that want them, through the callback
delivery.

Status codes follow the file; where it documents none that fits, a state conflict (enable a
package that is not onboarded, delete an enabled one, upload twice) is a 409, as GS MEC 009
and the file's own `409` response component describe it.

One module per resource group: `packages` (the package resources), `content` (upload and
download of the content, the AppD), `subscriptions`; `shared` holds what they share. The routes
are registered in that order.
"""

from __future__ import annotations

from fastapi import APIRouter

from mec_orchestrator.api.problems import ProblemDetails
from mec_orchestrator.api.routers.app_pkgm import content, packages, subscriptions
from mec_orchestrator.api.routers.app_pkgm.shared import ROOT

router = APIRouter(
    prefix=ROOT,
    tags=["app-pkgm"],
    responses={
        429: {
            "description": "Too Many Requests: the Kubernetes API server asked to retry later",
            "model": ProblemDetails,
            "content": {"application/problem+json": {}},
        }
    },
)
for _part in (packages, content, subscriptions):
    router.include_router(_part.router)
