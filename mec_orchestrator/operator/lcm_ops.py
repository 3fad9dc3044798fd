"""The one writer of AppLcmOpOcc status: a daemon per unfinished lifecycle operation occurrence.

Level-triggered: kopf starts a daemon for every AppLcmOpOcc that is not COMPLETED or FAILED —
also for those that were in flight when a previous orchestrator died — and the daemon, every
`poll_seconds`, reads the occurrence's EdgeApp and instance Deployments and writes what the pure
`decisions.lcm.next_status` decides from them (a pending retry, fail or cancel applied; the
operation COMPLETED when the EdgeApp's conditions show it, FAILED_TEMP after the timeout). It ends
when the occurrence is final or gone; kopf then drops its finalizer.

Each state it writes is notified to the namespace's AppLcm subscriptions that want it
(AppLcmOpOccNotification; AppInstNotification when a COMPLETED operation changed the instance's
state), through a callback delivery this module starts and stops with kopf; `notify` is shared
with the REST API, which notifies the events it causes itself (an operation started, an instance
created or deleted).

Settings come from the environment (prefix MEC_LCM_); the REST API reads them too (how long a
`fail` waits for this writer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from mec_orchestrator.adapters.callbacks import CallbackDelivery, notify_subscriber
from mec_orchestrator.adapters.kube import edgeapps, instances, lcm_ops, packages, subscriptions
from mec_orchestrator.adapters.kube.connection import ApiClient
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.decisions.lcm import AppFacts, effective_status, next_status
from mec_orchestrator.decisions.lcm.notifications import (
    Event,
    InstanceFacts,
    SubscriptionType,
    instance_facts,
    instance_state_after,
    notification,
    wants,
)
from mec_orchestrator.model import (
    GROUP,
    VERSION,
    AppLcmOpOcc,
    AppPackage,
    EdgeApp,
    EdgeAppStatus,
    LcmOperationState,
    SubscriptionApi,
)
from mec_orchestrator.operator.cluster_view import resource_version
from mec_orchestrator.operator.state import OperatorState

log = logging.getLogger(__name__)

_FINAL = {s.value for s in LcmOperationState if s.final}


class LcmSettings(BaseSettings):
    """How lifecycle operations are judged (environment prefix MEC_LCM_)."""

    model_config = SettingsConfigDict(env_prefix="MEC_LCM_", frozen=True)

    operation_timeout_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="An operation still PROCESSING this long turns FAILED_TEMP (an occurrence's "
        "spec.timeoutSeconds wins).",
    )
    poll_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often each unfinished operation's EdgeApp is read and judged.",
    )
    fail_wait_seconds: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description="How long the REST API's `fail` waits for the operator to apply it.",
    )


def unfinished(body: Mapping[str, Any], **_: Any) -> bool:
    """The occurrence is not COMPLETED or FAILED (the daemons' filter)."""
    state = (body.get("status") or {}).get("operationState")
    return state not in _FINAL


async def app_facts(api: ApiClient, namespace: str, name: str) -> AppFacts | None:
    """The EdgeApp namespace/name and its instance Deployments, as they are; None if it is gone."""
    body = await edgeapps.get_edgeapp(api, namespace, name)
    if body is None or body.get("metadata", {}).get("deletionTimestamp"):
        return None
    status = body.get("status")
    found = await instances.list_instances(api, namespace, name)
    return AppFacts(
        generation=body.get("metadata", {}).get("generation"),
        status=EdgeAppStatus.model_validate(status) if status else None,
        instances=tuple(instance for instance, _ in found),
    )


def api_root(public_uri: str, namespace: str) -> str:
    """The namespaced /app_lcm/v1 root under the API's public address (may be relative)."""
    return f"{public_uri.rstrip('/')}/namespaces/{namespace}/app_lcm/v1"


async def notify(
    api: ApiClient,
    delivery: CallbackDelivery | None,
    namespace: str,
    event: Event,
    *,
    fallback_root: str,
    now: datetime,
) -> int:
    """Send the event to every AppLcm subscription of the namespace that wants it; how many.

    Links are under the root each subscription was created at (its `_links.self` kept in its
    body), else under fallback_root. Delivery is asynchronous (queued, retried); a failure to
    list the subscriptions is logged, never raised to the caller whose change caused the event.
    """
    if delivery is None:
        return 0
    try:
        found = await subscriptions.list_subscriptions(
            api, namespace, subscription_api=SubscriptionApi.APP_LCM
        )
    except (ApiError, OSError) as error:
        log.warning("%s of %s not notified: %s", event.kind, event.instance.id, error)
        return 0
    notification_id = str(uuid.uuid4())
    sent = 0
    for subscription in found:
        spec, name = subscription.spec, subscription.metadata.name or ""
        if spec.is_expired(now) or not wants(spec.subscription_type, spec.filter, event):
            continue
        links = (spec.body or {}).get("_links")
        stored = links.get("self", {}).get("href") if isinstance(links, dict) else None
        href = stored if isinstance(stored, str) else f"{fallback_root}/subscriptions/{name}"
        root = href.rsplit("/subscriptions/", 1)[0]
        body = notification(
            event,
            notification_id=notification_id,
            subscription_id=name,
            subscription_href=href,
            instance_href=f"{root}/app_instances/{event.instance.id}",
            op_occ_href=f"{root}/app_lcm_op_occs/{event.op_occ_id}" if event.op_occ_id else None,
            at=now,
        )
        if notify_subscriber(
            delivery, subscription, body, notification_id=notification_id, what=event.kind
        ):
            sent += 1
    return sent


async def _instance(api: ApiClient, namespace: str, name: str) -> InstanceFacts:
    """What subscriptions match the app instance on (only its id when it is gone)."""
    body = await edgeapps.get_edgeapp(api, namespace, name)
    if body is None:
        return InstanceFacts(name, "", "", "", "", "", "")
    app = EdgeApp.model_validate(body)
    ref = app.spec.app_package_ref
    package = await packages.read_app_package(api, namespace, ref.name) if ref else None
    return instance_facts(app, AppPackage.model_validate(package) if package else None)


async def _notify_change(
    api: ApiClient, delivery: CallbackDelivery | None, occ: AppLcmOpOcc, state: LcmOperationState
) -> None:
    namespace = occ.metadata.namespace or "default"
    now = datetime.now(UTC)
    instance = await _instance(api, namespace, occ.spec.app_instance_id)
    root = api_root("", namespace)  # subscriptions made through the API carry their own root
    operation = occ.spec.lcm_operation.etsi
    await notify(
        api,
        delivery,
        namespace,
        Event(
            SubscriptionType.OP_OCC_STATE,
            instance,
            state=state.etsi,
            operation=operation,
            op_occ_id=occ.metadata.name,
        ),
        fallback_root=root,
        now=now,
    )
    if state is LcmOperationState.COMPLETED:
        target = occ.spec.change_state_to.etsi if occ.spec.change_state_to else None
        after = instance_state_after(operation, target)
        event = Event(SubscriptionType.INSTANCE_STATE, instance, state=after)
        await notify(api, delivery, namespace, event, fallback_root=root, now=now)


async def judge_once(
    api: ApiClient,
    body: dict[str, Any],
    settings: LcmSettings,
    now: datetime,
    delivery: CallbackDelivery | None = None,
) -> dict[str, Any] | None:
    """Judge the occurrence once and write its new status if it changed; the stored object.

    None when nothing was written (nothing changed, or the occurrence is gone). A new state is
    notified to the subscriptions that want it.
    """
    occ = AppLcmOpOcc.model_validate(body)
    namespace = occ.metadata.namespace or "default"
    name = occ.metadata.name or ""
    judging = effective_status(occ, now).operation_state is LcmOperationState.PROCESSING
    app = await app_facts(api, namespace, occ.spec.app_instance_id) if judging else None
    timeout = timedelta(seconds=settings.operation_timeout_seconds)
    status = next_status(occ, app, now, timeout)
    if status is None:
        return None
    stored = await lcm_ops.write_op_occ_status(api, namespace, name, status)
    before = occ.status.operation_state if occ.status else None
    if stored is not None and status.operation_state is not before:
        detail = f": {status.error.detail}" if status.error else ""
        log.info(
            "%s %s/%s of %s: %s -> %s%s",
            occ.spec.lcm_operation.etsi,
            namespace,
            name,
            occ.spec.app_instance_id,
            before.etsi if before else "(unwritten)",
            status.operation_state.etsi,
            detail,
        )
        if before is not None or status.operation_state is not LcmOperationState.PROCESSING:
            # (the REST API notified the start when it recorded the occurrence)
            await _notify_change(api, delivery, occ, status.operation_state)
    return stored.to_dict() if stored is not None else None


def _newest(live: kopf.Body, written: dict[str, Any] | None) -> dict[str, Any]:
    """The watch's copy or the answer to our last write, whichever is newer."""
    seen = dict(live)
    if written is not None and (resource_version(written) or -1) > (resource_version(seen) or -1):
        return written
    return seen


def register(
    registry: kopf.OperatorRegistry, state: OperatorState, settings: LcmSettings | None = None
) -> None:
    """Attach the AppLcmOpOcc daemon to `registry`, and the notifications' delivery."""
    lcm = settings or LcmSettings()
    delivery = state.notifier  # the process's one delivery (started again here: idempotent)
    under_way: set[asyncio.Future[dict[str, Any] | None]] = set()

    started_here: list[bool] = []

    @kopf.on.startup(registry=registry)
    async def start_lcm_notifications(**_: Any) -> None:
        if not delivery.running:  # `run` starts it first; embedded handlers (tests) do not
            await delivery.start()
            started_here.append(True)

    @kopf.on.cleanup(registry=registry)
    async def stop_lcm_notifications(**_: Any) -> None:
        if started_here:
            await delivery.stop()

    @kopf.daemon(
        GROUP,
        VERSION,
        AppLcmOpOcc.PLURAL,
        when=unfinished,
        cancellation_backoff=5,  # a judgement under way (its write, its notifications) ends first
        cancellation_timeout=5,
        registry=registry,
    )
    async def lcm_op_occ(
        name: str,
        namespace: str | None,
        body: kopf.Body,
        stopped: kopf.DaemonStopped,
        logger: kopf.Logger,
        **_: Any,
    ) -> None:
        written: dict[str, Any] | None = None
        backoff = lcm.poll_seconds
        # Woken by every event of the app (its status writes above all), polled as a fallback.
        app = str((body.get("spec") or {}).get("appInstanceId", ""))
        changed = state.app_changes((namespace or "", app))
        while not stopped:
            wait = lcm.poll_seconds
            changed.clear()
            try:
                current = _newest(body, written)
                if not unfinished(current):
                    return
                judging = asyncio.ensure_future(
                    judge_once(state.api, current, lcm, datetime.now(UTC), delivery)
                )
                under_way.add(judging)  # kept (and finished) even if the daemon is cancelled
                judging.add_done_callback(under_way.discard)
                stored = await asyncio.shield(judging)
                if stored is not None:
                    written = stored
                    if not unfinished(stored):
                        return
                backoff = lcm.poll_seconds
            except ApiError as error:
                logger.warning("judging %s/%s failed (%s); retrying", namespace, name, error.status)
                wait, backoff = backoff, min(backoff * 2, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=wait)
