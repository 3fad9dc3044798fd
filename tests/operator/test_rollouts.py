"""Spec updates on the real control plane: Ready for a new generation means it is rolled out.

A new pod template must not be reported Ready before the Deployment controller has rolled it out;
a change that only touches the Deployment's metadata (the app's version label) must not make the
controller manager roll anything, so it is Ready again at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kubernetes_asyncio import client, watch

from tests.helpers import eventually
from tests.operator.apps import (
    GROUP,
    VERSION,
    condition,
    create_app,
    deployments,
    edge_app,
    get_app,
    patch_spec,
)
from tests.operator.conftest import OperatorProcess


async def ready_app(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        app = await get_app(api, namespace, name)
        if app is None:
            return None
        ready = condition(app, "Ready")
        current = ready.get("observedGeneration") == app["metadata"]["generation"]
        return app if current and ready.get("status") == "True" else None

    found: dict[str, Any] = await eventually(ready, within=30)
    return found


def rolled_out(deployment: dict[str, Any], generation: int) -> bool:
    """`kubectl rollout status`'s verdict, for a Deployment at `generation` or later."""
    status = deployment.get("status") or {}
    updated = int(status.get("updatedReplicas", 0))
    current = int(deployment["metadata"]["generation"])
    return (
        current >= generation
        and status.get("observedGeneration", 0) >= current
        and updated >= 1
        and status.get("replicas", 0) <= updated
        and status.get("readyReplicas", 0) >= 1
    )


async def test_a_new_template_is_ready_only_after_its_rollout(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await create_app(api, namespace, edge_app("roll"))
    app = await ready_app(api, namespace, "roll")
    (before,) = (await deployments(api, namespace, "roll")).values()
    since = app["metadata"]["resourceVersion"]

    # Watch both kinds from before the change; resourceVersions are etcd revisions, so the order
    # of two events of different objects is known.
    seen: list[tuple[int, str, dict[str, Any]]] = []

    async def follow(kind: str, list_call: Any, *args: Any, **kwargs: Any) -> None:
        async with watch.Watch() as stream:
            async for event in stream.stream(
                list_call, *args, resource_version=since, timeout_seconds=60, **kwargs
            ):
                body = event["raw_object"]
                seen.append((int(body["metadata"]["resourceVersion"]), kind, body))

    watchers = [
        asyncio.create_task(
            follow(
                "EdgeApp",
                client.CustomObjectsApi(api).list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "edgeapps",
                field_selector="metadata.name=roll",
            )
        ),
        asyncio.create_task(
            follow(
                "Deployment",
                client.AppsV1Api(api).list_namespaced_deployment,
                namespace,
                label_selector="mec.dev/app=roll",
            )
        ),
    ]
    try:
        await asyncio.sleep(0.5)  # both watches open
        template = edge_app("roll")["spec"]["template"]
        template["spec"]["containers"][0]["image"] = "registry.local/app:2"
        await patch_spec(api, namespace, "roll", {"template": template})
        after = await ready_app(api, namespace, "roll")
        new_generation = after["metadata"]["generation"]
        await asyncio.sleep(1)  # the watches catch up with what the poll saw
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)

    def claims_ready(body: dict[str, Any]) -> bool:
        ready = condition(body, "Ready")
        return ready.get("status") == "True" and ready.get("observedGeneration") == new_generation

    first_claim = min(rv for rv, kind, body in seen if kind == "EdgeApp" and claims_ready(body))
    rollouts = [
        rv
        for rv, kind, body in seen
        if kind == "Deployment" and rolled_out(body, before.metadata.generation + 1)
    ]
    assert rollouts, "the watch saw no finished rollout of the new template"
    assert min(rollouts) < first_claim, "Ready was claimed before the rollout finished"
    (now,) = (await deployments(api, namespace, "roll")).values()
    assert now.spec.template.spec.containers[0].image == "registry.local/app:2"


async def test_a_version_change_is_ready_without_a_rollout(
    api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    await create_app(api, namespace, edge_app("label"))
    await ready_app(api, namespace, "label")
    (before,) = (await deployments(api, namespace, "label")).values()

    await patch_spec(api, namespace, "label", {"appSoftVersion": "2.0"})

    async def relabelled() -> Any:
        (now,) = (await deployments(api, namespace, "label")).values()
        return now if now.metadata.labels["app.kubernetes.io/version"] == "2.0" else None

    now = await eventually(relabelled)
    app = await ready_app(api, namespace, "label")
    # The update cost one EdgeApp write of the operator's (status), no kopf bookkeeping.
    assert not any("kopf" in key for key in app["metadata"].get("annotations") or {})
    # Only metadata changed: no new generation for the controller manager to roll out.
    assert now.metadata.generation == before.metadata.generation
    assert now.spec.template == before.spec.template
