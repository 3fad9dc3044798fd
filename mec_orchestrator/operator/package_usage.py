"""Keeps each AppPackage's `status.usageState` in step with the EdgeApps that name it.

MEC 010-2: a package is IN_USE while an app instance uses it (and may not be deleted then).
The REST API answers from the live references; this makes `kubectl get apkg` and anything else
reading the resource agree. The operator is the one writer of that field (a merge patch of just
`usageState`; the REST API owns the onboarding fields), and only the active replica writes, as
kopf runs event handlers there only.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from mec_orchestrator.adapters.kube import packages
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.model import GROUP, VERSION
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)


async def write_due(state: OperatorState) -> None:
    """Write every usage state that is due (a package gone meanwhile is skipped)."""
    if not state.ready:
        return
    for (namespace, name), usage in state.package_usage_due().items():
        try:
            await packages.write_app_package_status(
                state.api, namespace, name, {"usageState": usage.value}
            )
        except ApiError as error:
            if error.status != 404:
                log.warning("cannot write the usage of %s/%s (%s)", namespace, name, error.status)
                continue
        state.package_usage_written((namespace, name), usage)


def register(registry: kopf.OperatorRegistry, state: OperatorState) -> None:
    """Follow EdgeApps and AppPackages; write usage states as they fall due."""

    @kopf.on.event(GROUP, VERSION, "edgeapps", registry=registry)
    async def app_uses(
        name: str, namespace: str | None, body: kopf.Body, type: str | None, **_: Any
    ) -> None:
        state.package_ref_seen((namespace or "", name), None if type == "DELETED" else dict(body))
        await write_due(state)

    @kopf.on.event(GROUP, VERSION, "apppackages", registry=registry)
    async def package_recorded(
        name: str, namespace: str | None, body: kopf.Body, type: str | None, **_: Any
    ) -> None:
        state.package_seen((namespace or "", name), None if type == "DELETED" else dict(body))
        await write_due(state)
