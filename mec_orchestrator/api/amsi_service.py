"""The MEC 021 application mobility service's side: registrations, transfers, notifications.

It holds the registrations, reports context transfers to the users' directory, and notifies
the users' moves.

`Registrations` keeps the application mobility services app instances register, per
namespace, in this process's memory: a registration carries no callback, so it is no
MecSubscription, and the orchestrator has no other resource for it (docs/api.md: known
limits). Expired registrations (`expiryTime`) are dropped when next looked at.

`report_transfers` tells the users' directory that an instance says it finished moving a
device's user context (contextTransferState USER_CONTEXT_TRANSFER_COMPLETED), for each of the
device's contexts of the instance's EdgeApp (`UserDirectory.context_transfer_reported`).

`MobilityNotifier` registers with `UserDirectory.on_handover`: every step of every move of a
user becomes a MobilityProcedureNotification for each matching MobilityProcedureSubscription of
the namespace, and every move that ended (COMPLETED or FAILED) an AdjacentAppInfoNotification
for each AdjacentAppInfoSubscription of the app whose serving instances differ from those it
was last told (`decisions.handover.mec021`). Notifications of one event are submitted after
the previous event's, through the callback delivery.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mec_orchestrator.adapters.callbacks import notify_subscriber
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.adapters.kube.subscriptions import list_subscriptions
from mec_orchestrator.api.deps import ApiContext
from mec_orchestrator.api.schemas.amsi import (
    AdjacentAppInfoSubscription,
    MobilityProcedureSubscription,
    RegistrationInfo,
)
from mec_orchestrator.decisions.handover import HandoverEvent
from mec_orchestrator.decisions.handover.mec021 import (
    ENDED,
    AppInstance,
    MobilityFilter,
    adjacent,
    adjacent_app_info_notification,
    mobility_procedure_notification,
    transfer_completed,
)
from mec_orchestrator.model.subscription import MecSubscription, SubscriptionApi
from mec_orchestrator.operator.users import UserDirectory

log = logging.getLogger(__name__)

ID_PREFIX = "ams-"


@dataclass(frozen=True, slots=True)
class Registration:
    """One registered application mobility service."""

    id: str
    namespace: str
    info: RegistrationInfo
    expires_s: float | None

    def body(self) -> dict[str, Any]:
        """The RegistrationInfo as answered (with its appMobilityServiceId)."""
        return {**self.info.etsi(), "appMobilityServiceId": self.id}

    @property
    def app_instance_id(self) -> str | None:
        return self.info.service_consumer_id.app_instance_id


class Registrations:
    """The registrations of every namespace, in memory (module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._items: dict[tuple[str, str], Registration] = {}

    def _expiry(self, info: RegistrationInfo) -> float | None:
        return None if not info.expiry_time else self._clock() + info.expiry_time

    def _live(self, found: Registration | None) -> Registration | None:
        if found is not None and found.expires_s is not None and found.expires_s <= self._clock():
            self._items.pop((found.namespace, found.id), None)
            return None
        return found

    def create(self, namespace: str, info: RegistrationInfo) -> Registration:
        while True:
            made = f"{ID_PREFIX}{secrets.token_hex(5)}"
            if (namespace, made) not in self._items:
                break
        registration = Registration(made, namespace, info, self._expiry(info))
        self._items[(namespace, made)] = registration
        return registration

    def get(self, namespace: str, registration_id: str) -> Registration | None:
        return self._live(self._items.get((namespace, registration_id)))

    def list(self, namespace: str) -> list[Registration]:
        found = [r for (ns, _), r in sorted(self._items.items()) if ns == namespace]
        return [r for r in found if self._live(r) is not None]

    def replace(self, current: Registration, info: RegistrationInfo) -> Registration:
        """The registration with info instead (its expiry counted again from now)."""
        replaced = Registration(current.id, current.namespace, info, self._expiry(info))
        self._items[(current.namespace, current.id)] = replaced
        return replaced

    def delete(self, namespace: str, registration_id: str) -> bool:
        return self._items.pop((namespace, registration_id), None) is not None

    def registered_instances(self, namespace: str) -> set[str]:
        """The app instances of namespace that have a registration."""
        return {i for r in self.list(namespace) if (i := r.app_instance_id) is not None}


def _devices(info: RegistrationInfo | None) -> list[tuple[int, str, int]]:
    if info is None:
        return []
    return [
        (int(d.associate_id.type), d.associate_id.value, int(d.context_transfer_state or 0))
        for d in info.device_information or ()
    ]


def report_transfers(
    users: UserDirectory | None, before: RegistrationInfo | None, after: RegistrationInfo
) -> list[tuple[str, bool]]:
    """Tell the directory of the contexts whose transfer the registering instance completed.

    For each device (UE_IPv4_ADDRESS) whose contextTransferState became 1, each of its
    contexts of the instance's EdgeApp is reported as moved by that instance. Returns
    (context id, whether a handover was waiting for it) for each report.
    """
    instance = after.service_consumer_id.app_instance_id
    addresses = transfer_completed(_devices(before), _devices(after))
    if users is None or instance is None or not addresses:
        return []
    owner = users.instance_owner(instance)
    if owner is None:
        log.info("context transfer reported by unknown instance %s: nothing waits for it", instance)
        return []
    namespace, app, _ = owner
    reports = []
    for address in addresses:
        for session in users.sessions_of_device(address):
            if (session.namespace, session.app) == (namespace, app):
                awaited = users.context_transfer_reported(instance, session.context_id)
                reports.append((session.context_id, awaited))
                log.info(
                    "instance %s completed the context transfer of user %s (%s)",
                    instance,
                    session.context_id,
                    "a handover was waiting" if awaited else "no handover was waiting",
                )
    return reports


def serving_instances(users: UserDirectory, namespace: str, app: str) -> list[AppInstance]:
    """The app's instances that can serve users now."""
    known = users.apps(namespace)
    app_d_id = next((a.spec.app_d_id for a in known if (a.metadata.name or "") == app), "")
    return [
        AppInstance(s.app_instance_id, app_d_id, host, s.reference_uri)
        for host, s in sorted(users.serving_instances(namespace, app).items())
    ]


def subscription_href(subscription: MecSubscription) -> str:
    """The URI the API gave the subscription when it was created (kept in its body)."""
    links = (subscription.spec.body or {}).get("_links")
    href = links.get("self", {}).get("href") if isinstance(links, dict) else None
    if isinstance(href, str) and href:
        return href
    meta = subscription.metadata
    return f"/namespaces/{meta.namespace}/amsi/v1/subscriptions/{meta.name}"


class MobilityNotifier:
    """Users' moves -> MEC 021 notifications (module docstring)."""

    def __init__(self, context: ApiContext, users: UserDirectory) -> None:
        self._context = context
        self._users = users
        self._tail: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._told: dict[str, tuple[str, ...]] = {}  # subscription -> instances last told
        self.stop = users.on_handover(self.moved)

    def moved(self, event: HandoverEvent) -> None:
        task = asyncio.get_running_loop().create_task(
            self._notify(self._tail, event), name=f"mec021 {event.handover_id} {event.kind}"
        )
        self._tail = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(self, previous: asyncio.Task[None] | None, event: HandoverEvent) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # keep the order of events; its failure is its own
        context = self._context
        if context.notifier is None or not context.state.ready:
            return
        try:
            subscriptions = await list_subscriptions(
                context.state.api, event.namespace, subscription_api=SubscriptionApi.APP_MOBILITY
            )
        except (ApiError, OSError) as error:
            log.warning("MEC 021 notifications not sent: listing subscriptions: %s", error)
            return
        at = time.time()
        now = datetime.fromtimestamp(at, UTC)
        names = {f"{s.metadata.namespace}/{s.metadata.name}" for s in subscriptions}
        for gone in [k for k in self._told if k.startswith(f"{event.namespace}/")]:
            if gone not in names:
                del self._told[gone]  # a deleted subscription: forget what it was told
        for subscription in subscriptions:
            spec = subscription.spec
            if spec.is_expired(now):
                continue
            if spec.subscription_type == MobilityProcedureSubscription.TYPE:
                self._mobility(subscription, event)
            elif spec.subscription_type == AdjacentAppInfoSubscription.TYPE and event.kind in ENDED:
                self._adjacent(subscription, event, at)

    def _mobility(self, subscription: MecSubscription, event: HandoverEvent) -> None:
        criteria = (subscription.spec.body or {}).get("filterCriteria") or {}
        if not isinstance(criteria, dict) or not MobilityFilter.of(criteria).wants(event):
            return
        body = mobility_procedure_notification(event, subscription_href(subscription))
        if body is None or self._context.notifier is None:
            return
        notify_subscriber(
            self._context.notifier,
            subscription,
            body,
            notification_id=f"mpn-{uuid.uuid4().hex}",
            what="MobilityProcedureNotification",
        )

    def _adjacent(self, subscription: MecSubscription, event: HandoverEvent, at: float) -> None:
        criteria = (subscription.spec.body or {}).get("filterCriteria") or {}
        reference = criteria.get("appInstanceId") if isinstance(criteria, dict) else None
        if reference is not None:
            owner = self._users.instance_owner(str(reference))
            if owner is None or owner[:2] != (event.namespace, event.app):
                return
        instances = adjacent(serving_instances(self._users, event.namespace, event.app), reference)
        key = f"{subscription.metadata.namespace}/{subscription.metadata.name}"
        told = tuple(f"{i.app_instance_id} {i.endpoint}" for i in instances)
        if self._told.get(key) == told or self._context.notifier is None:
            return
        self._told[key] = told
        notify_subscriber(
            self._context.notifier,
            subscription,
            adjacent_app_info_notification(instances, subscription_href(subscription), at),
            notification_id=f"aan-{uuid.uuid4().hex}",
            what="AdjacentAppInfoNotification",
        )
