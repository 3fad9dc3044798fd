"""One entry point from an untyped Kubernetes object to its typed model, by kind.

Code that reads objects from the API server, from YAML files or from a watch stream gets dicts;
`parse_resource` turns any kind of the group into its model (or fails naming the field), so no
caller has to dispatch on `kind` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mec_orchestrator.model.apppackage import AppPackage
from mec_orchestrator.model.base import API_VERSION
from mec_orchestrator.model.edgeapp import EdgeApp
from mec_orchestrator.model.edgehost import EdgeHost
from mec_orchestrator.model.lcm_op_occ import AppLcmOpOcc
from mec_orchestrator.model.subscription import MecSubscription
from mec_orchestrator.model.zone import Zone

Resource = EdgeApp | EdgeHost | Zone | AppPackage | MecSubscription | AppLcmOpOcc
RESOURCE_TYPES: tuple[type[Resource], ...] = (
    EdgeApp,
    EdgeHost,
    Zone,
    AppPackage,
    MecSubscription,
    AppLcmOpOcc,
)
KINDS: dict[str, type[Resource]] = {t.KIND: t for t in RESOURCE_TYPES}


class UnknownKindError(ValueError):
    """The object is not one of this API group's kinds."""


def parse_resource(obj: Mapping[str, Any]) -> Resource:
    """The typed model of a `mec.dev/v1alpha1` object; pydantic.ValidationError if invalid."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    model = KINDS.get(kind) if isinstance(kind, str) else None
    if api_version != API_VERSION or model is None:
        raise UnknownKindError(
            f"not a {API_VERSION} resource of kind {', '.join(KINDS)}: "
            f"apiVersion={api_version!r}, kind={kind!r}"
        )
    return model.model_validate(obj)
