"""kopf handlers: every watch event updates the cluster view and wakes the EdgeApps it affects.

Each EdgeApp has one daemon that reconciles it when woken (or every resync period), so all
changes to one app are handled one at a time, and events for many apps run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import kopf

from mec_orchestrator.adapters.kube import events, instances
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.decisions.instances.manifests import APP_LABEL
from mec_orchestrator.model import EDGE_HOST_LABEL, GROUP, VERSION, EventReason
from mec_orchestrator.operator import lcm_ops, metrics, package_usage
from mec_orchestrator.operator.kopf_compat import NoDiffBaseStorage
from mec_orchestrator.operator.reconciler import PackageMissingError, reconcile
from mec_orchestrator.operator.state import OperatorState

FINALIZER = "mec.dev/finalizer"


def register(registry: kopf.OperatorRegistry, state: OperatorState) -> None:  # noqa: PLR0915
    """Attach every handler to `registry`, closing over the operator's `state`."""
    lcm_ops.register(registry, state)  # MEC 010-2 lifecycle operation occurrences
    package_usage.register(registry, state)  # AppPackages' usageState follows their apps

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="mec.dev")
        settings.persistence.diffbase_storage = NoDiffBaseStorage()
        settings.peering.name = state.settings.peering_name
        settings.peering.priority = state.settings.priority
        settings.peering.lifetime = state.settings.peering_lifetime_seconds
        settings.peering.standalone = state.settings.standalone
        settings.peering.mandatory = not state.settings.standalone
        settings.posting.enabled = False  # our own Events tell the story; not kopf's log lines
        settings.watching.server_timeout = 300
        api = state.connection.api_client()
        if not state.settings.standalone:
            await instances.ensure_peering(api, state.settings.peering_name)
        state.started(api)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        await state.stopped()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        c = state.connection
        return kopf.ConnectionInfo(
            server=c.server,
            ca_path=c.ca_path,
            certificate_path=c.certificate_path,
            private_key_path=c.private_key_path,
            token=c.token,
            default_namespace=c.default_namespace,
        )

    # Every handler is a coroutine: kopf runs plain functions in worker threads, and the view
    # is shared with the daemons on the event loop, so it must only be touched from the loop.
    # Indexes gate start-up: kopf starts no daemon before every index has seen its initial
    # listing, so no EdgeApp is planned from a half-loaded view (e.g. before the measured
    # latencies arrived). They feed the same view as the event handlers below, which also see
    # deletions.
    @kopf.index("", "v1", "nodes", labels={EDGE_HOST_LABEL: kopf.PRESENT}, registry=registry)
    async def nodes_loaded(name: str, body: kopf.Body, **_: Any) -> None:
        state.node_seen(name, dict(body))

    @kopf.index(GROUP, VERSION, "edgehosts", registry=registry)
    async def edge_hosts_loaded(name: str, body: kopf.Body, **_: Any) -> None:
        state.edge_host_seen(name, dict(body))

    @kopf.index(GROUP, VERSION, "zones", registry=registry)
    async def zones_loaded(name: str, body: kopf.Body, **_: Any) -> None:
        state.zone_seen(name, dict(body))

    @kopf.index("apps", "v1", "deployments", labels={APP_LABEL: kopf.PRESENT}, registry=registry)
    async def instances_loaded(uid: str, body: kopf.Body, **_: Any) -> None:
        state.view.update_instance(uid, dict(body))

    @kopf.on.event("", "v1", "nodes", labels={EDGE_HOST_LABEL: kopf.PRESENT}, registry=registry)
    async def node_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        state.node_seen(name, None if type == "DELETED" else dict(body))

    @kopf.on.event(GROUP, VERSION, "edgehosts", registry=registry)
    async def edge_host_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        state.edge_host_seen(name, None if type == "DELETED" else dict(body))

    @kopf.on.event(GROUP, VERSION, "zones", registry=registry)
    async def zone_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        state.zone_seen(name, None if type == "DELETED" else dict(body))

    @kopf.on.event("apps", "v1", "deployments", labels={APP_LABEL: kopf.PRESENT}, registry=registry)
    async def instance_changed(
        uid: str,
        namespace: str | None,
        labels: kopf.Labels,
        body: kopf.Body,
        type: str | None,
        **_: Any,
    ) -> None:
        # The echo of the operator's own write changes nothing its daemon has not already seen
        # (the reconciler recorded the write's answer); anything else may change the status.
        echo = type != "DELETED" and state.view.echoes_own_write(uid, body)
        state.view.update_instance(uid, None if type == "DELETED" else dict(body))
        if not echo:
            state.kick(namespace or "", labels[APP_LABEL])
        for host, count in state.view.instances_per_host().items():
            metrics.INSTANCES_PER_HOST.labels(host).set(count)

    @kopf.on.event(GROUP, VERSION, "edgeapps", registry=registry)
    async def app_changed(
        name: str, namespace: str | None, body: kopf.Body, type: str | None, **_: Any
    ) -> None:
        state.app_seen((namespace or "", name), None if type == "DELETED" else dict(body))

    @kopf.daemon(GROUP, VERSION, "edgeapps", cancellation_timeout=10, registry=registry)
    async def app_daemon(
        name: str,
        namespace: str | None,
        body: kopf.Body,
        stopped: kopf.DaemonStopped,
        logger: kopf.Logger,
        **_: Any,
    ) -> None:
        namespace = namespace or ""
        key = (namespace, name)
        wake = state.wakeup(key)
        backoff = 1.0
        while not stopped:
            wake.clear()
            timeout = state.settings.resync_seconds
            try:
                outcome = await reconcile(state, state.newest_body(key, body))
                if outcome.stored is not None:
                    state.note_body(key, outcome.stored)
                backoff = 1.0
                if outcome.next_deadline is not None:
                    due = (outcome.next_deadline - datetime.now(UTC)).total_seconds() + 0.2
                    timeout = max(0.1, min(timeout, due))
            except PackageMissingError as error:
                metrics.RECONCILE_ERRORS.labels("PackageMissing").inc()
                logger.warning("cannot place %s/%s: %s", namespace, name, error)
                timeout = min(timeout, 10.0)
            except ApiError as error:
                if error.status == 404:  # the app is being deleted
                    return
                metrics.RECONCILE_ERRORS.labels(f"Http{error.status}").inc()
                logger.warning(
                    "reconcile of %s/%s failed (%s); retrying", namespace, name, error.status
                )
                timeout, backoff = backoff, min(backoff * 2, 30.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.RECONCILE_ERRORS.labels("Exception").inc()
                logger.exception("reconcile of %s/%s failed; retrying", namespace, name)
                timeout, backoff = backoff, min(backoff * 2, 30.0)
            if stopped:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=timeout)

    @kopf.on.delete(GROUP, VERSION, "edgeapps", registry=registry)
    async def app_deleted(name: str, namespace: str | None, body: kopf.Body, **_: Any) -> None:
        namespace = namespace or ""
        state.forget_app((namespace, name))
        metrics.forget_app(namespace, name)
        found = await instances.list_instances(state.api, namespace, name)
        for instance, _hash in found:
            await instances.delete_instance(state.api, namespace, instance.deployment)
        await events.emit(
            state.api,
            involved={
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "EdgeApp",
                "name": name,
                "namespace": namespace,
                "uid": body.get("metadata", {}).get("uid", ""),
            },
            reason=EventReason.DELETED,
            message=f"removed {len(found)} instance(s): "
            f"{', '.join(sorted(i.host for i, _ in found)) or 'none'}",
        )
