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
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator import metrics
from mec_orchestrator.kube import events, instances
from mec_orchestrator.kube.connection import Connection
from mec_orchestrator.model import EDGE_HOST_LABEL, GROUP, VERSION
from mec_orchestrator.operator.cluster_view import ClusterView, resource_version
from mec_orchestrator.operator.reconciler import PackageMissingError, reconcile
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.storage import NoDiffBaseStorage
from mec_orchestrator.reconcile.manifests import APP_LABEL

FINALIZER = "mec.dev/finalizer"


class Runtime:
    """Process-wide state shared by the handlers (one per operator process)."""

    def __init__(self, settings: OperatorSettings, connection: Connection) -> None:
        self.settings = settings
        self.connection = connection
        self.view = ClusterView()
        self.kicks: dict[tuple[str, str], asyncio.Event] = {}
        self.generations: dict[tuple[str, str], int | None] = {}  # last generation that woke an app
        # The newest body seen per app: kopf may wake a daemon before its own view of the body is
        # updated, and a daemon that reconciled a stale body would not be woken again.
        self.bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.api: client.ApiClient | None = None
        self.ready = False

    @property
    def client(self) -> client.ApiClient:
        if self.api is None:
            raise RuntimeError("the operator has not started: no API client yet")
        return self.api

    def note_body(self, key: tuple[str, str], body: dict[str, Any]) -> None:
        """Keep body as the app's newest, unless a newer one (by resourceVersion) is kept.

        Watch events and the answers to the operator's own status writes both come here, in
        either order; a daemon that started from a body older than its own last status write
        would report the same change twice.
        """
        kept = self.bodies.get(key)
        if kept is None or (resource_version(body) or -1) >= (resource_version(kept) or -1):
            self.bodies[key] = body

    def kick(self, namespace: str, name: str) -> None:
        self.kicks.setdefault((namespace, name), asyncio.Event()).set()

    def kick_all(self) -> None:
        for event in self.kicks.values():
            event.set()


def register(registry: kopf.OperatorRegistry, runtime: Runtime) -> None:  # noqa: PLR0915
    """Attach every handler to `registry`, closing over `runtime`."""

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.persistence.finalizer = FINALIZER
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="mec.dev")
        settings.persistence.diffbase_storage = NoDiffBaseStorage()
        settings.peering.name = runtime.settings.peering_name
        settings.peering.priority = runtime.settings.priority
        settings.peering.lifetime = runtime.settings.peering_lifetime_seconds
        settings.peering.standalone = runtime.settings.standalone
        settings.peering.mandatory = not runtime.settings.standalone
        settings.posting.enabled = False  # our own Events tell the story; not kopf's log lines
        settings.watching.server_timeout = 300
        runtime.api = runtime.connection.api_client()
        if not runtime.settings.standalone:
            await instances.ensure_peering(runtime.api, runtime.settings.peering_name)
        runtime.ready = True

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        runtime.ready = False
        if runtime.api is not None:
            await runtime.api.close()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        c = runtime.connection
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
        runtime.view.update_node(name, dict(body))

    @kopf.index(GROUP, VERSION, "edgehosts", registry=registry)
    async def edge_hosts_loaded(name: str, body: kopf.Body, **_: Any) -> None:
        runtime.view.update_edge_host(name, dict(body))

    @kopf.index(GROUP, VERSION, "zones", registry=registry)
    async def zones_loaded(name: str, body: kopf.Body, **_: Any) -> None:
        runtime.view.update_zone(name, dict(body))

    @kopf.index("apps", "v1", "deployments", labels={APP_LABEL: kopf.PRESENT}, registry=registry)
    async def instances_loaded(uid: str, body: kopf.Body, **_: Any) -> None:
        runtime.view.update_instance(uid, dict(body))

    @kopf.on.event("", "v1", "nodes", labels={EDGE_HOST_LABEL: kopf.PRESENT}, registry=registry)
    async def node_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        if runtime.view.update_node(name, None if type == "DELETED" else dict(body)):
            runtime.kick_all()

    @kopf.on.event(GROUP, VERSION, "edgehosts", registry=registry)
    async def edge_host_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        if runtime.view.update_edge_host(name, None if type == "DELETED" else dict(body)):
            runtime.kick_all()

    @kopf.on.event(GROUP, VERSION, "zones", registry=registry)
    async def zone_changed(name: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        if runtime.view.update_zone(name, None if type == "DELETED" else dict(body)):
            runtime.kick_all()

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
        echo = type != "DELETED" and runtime.view.echoes_own_write(uid, body)
        runtime.view.update_instance(uid, None if type == "DELETED" else dict(body))
        if not echo:
            runtime.kick(namespace or "", labels[APP_LABEL])
        for host, count in runtime.view.instances_per_host().items():
            metrics.INSTANCES_PER_HOST.labels(host).set(count)

    @kopf.on.event(GROUP, VERSION, "edgeapps", registry=registry)
    async def app_changed(
        name: str, namespace: str | None, body: kopf.Body, type: str | None, **_: Any
    ) -> None:
        runtime.view.update_app(namespace or "", name, None if type == "DELETED" else dict(body))
        # Only a new generation (a spec change) or a deletion needs the app's daemon: the
        # operator's own status writes come back here too, and reconciling on each of them
        # would double the work per update for nothing.
        key = (namespace or "", name)
        generation = body.get("metadata", {}).get("generation")
        deleting = type == "DELETED" or bool(body.get("metadata", {}).get("deletionTimestamp"))
        runtime.note_body(key, dict(body))  # the daemon reconciles the newest body
        if deleting or runtime.generations.get(key) != generation:
            runtime.generations[key] = generation
            runtime.kick(*key)

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
        wake = runtime.kicks.setdefault((namespace, name), asyncio.Event())
        backoff = 1.0
        while not stopped:
            wake.clear()
            timeout = runtime.settings.resync_seconds
            try:
                latest = runtime.bodies.get((namespace, name)) or dict(body)
                outcome = await reconcile(runtime.client, runtime.view, latest)
                if outcome.stored is not None:
                    runtime.note_body((namespace, name), outcome.stored)
                backoff = 1.0
                if outcome.next_deadline is not None:
                    due = (outcome.next_deadline - datetime.now(UTC)).total_seconds() + 0.2
                    timeout = max(0.1, min(timeout, due))
            except PackageMissingError as error:
                metrics.RECONCILE_ERRORS.labels("PackageMissing").inc()
                logger.warning("cannot place %s/%s: %s", namespace, name, error)
                timeout = min(timeout, 10.0)
            except ApiException as error:
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
        runtime.kicks.pop((namespace, name), None)
        runtime.generations.pop((namespace, name), None)
        runtime.bodies.pop((namespace, name), None)
        found = await instances.list_instances(runtime.client, namespace, name)
        for instance, _hash in found:
            await instances.delete_instance(runtime.client, namespace, instance.deployment)
        await events.emit(
            runtime.client,
            involved={
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "EdgeApp",
                "name": name,
                "namespace": namespace,
                "uid": body.get("metadata", {}).get("uid", ""),
            },
            reason="Deleted",
            message=f"removed {len(found)} instance(s): "
            f"{', '.join(sorted(i.host for i, _ in found)) or 'none'}",
        )
