"""The MEC 013 location service's side of the operator: facts it reads, zone notifications.

`measured_facts` reads what the operator measured and placed (the latency matrix, EdgeHost
summaries, available hosts, EdgeApp budgets, users the engine placed) into the plain facts
`decisions.location` takes.

`ZoneNotifier` is the watcher of Zone changes: it registers with `OperatorState.on_zone_change`
(the operator never imports the API) and, for each change, sends a ZoneStatusNotification for
every event each matching ZoneStatusSubscription asks for (`decisions.location.zone_status`),
through the callback delivery. Both snapshots of a change are computed with the same
measurements, so events come from the Zone itself: access points added, removed, declared in or
out of service. Zones the operator already had when the process started are learnt silently
(kopf lists every Zone at start-up: that is no change); a Zone created since is a change.
Notifications are sent in the order of the changes (one change's notifications are submitted
after the previous change's).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mec_orchestrator.adapters.callbacks import notify_subscriber
from mec_orchestrator.adapters.kube.errors import ApiError
from mec_orchestrator.adapters.kube.subscriptions import list_subscriptions
from mec_orchestrator.api.deps import ApiContext
from mec_orchestrator.api.schemas.location import (
    UserLocationEventSubscription,
    ZoneLocationEventSubscription,
    ZoneStatusSubscription,
)
from mec_orchestrator.decisions.latency import LatencyMetric
from mec_orchestrator.decisions.location import (
    MeasuredFacts,
    UserLocation,
    ZoneSnapshot,
    ZoneStatusFilter,
    snapshot,
    statuses,
    user_locations,
    users_per_access_point,
    zone_facts,
    zone_status_events,
    zone_status_notification,
)
from mec_orchestrator.decisions.location.user_events import (
    Position,
    user_events,
    user_location_event_notification,
    wanted,
    zone_events,
    zone_location_event_notification,
)
from mec_orchestrator.model import Zone
from mec_orchestrator.model.subscription import MecSubscription, SubscriptionApi
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import UserDirectory

log = logging.getLogger(__name__)

ROOT = "/location/v2"


def user_address(device_address: str) -> str:
    """A device's MEC 013 address (its IPv4 address as an `acr:` URI)."""
    return f"acr:{device_address}"


def users_now(state: OperatorState, namespace: str | None = None) -> list[UserLocation]:
    """The attached users on an access point of a known Zone (of namespace, or all).

    With the users' directory (MEC 016), a user is a device with an application context, at
    the access point its cell maps to; without it, the users the engine placed.
    """
    access_points = {
        ap.id: (ap.zone, ap.location)
        for ap in state.view.access_points()
        if ap.location is not None
    }
    users = state.users
    if users is not None:
        keys: dict[str, str] = {}
        for session in users.sessions(namespace):
            if session.device_address is not None:
                key = f"{session.namespace}/{session.app}/{user_address(session.device_address)}"
                keys[key] = session.device_address
        return user_locations(keys, lambda key: users.position(keys[key]), access_points, namespace)
    engine = state.engine
    return user_locations(
        engine.index.placements().keys(), engine.access_point_of, access_points, namespace
    )


def measured_facts(state: OperatorState) -> MeasuredFacts:
    """Best measured RTT per access point from available hosts, budgets, users per AP."""
    view = state.view
    available = {h.name for h in view.host_views(exclude_app=None) if h.available}
    matrix = view.latency
    best: dict[str, float] = {}
    sampled: set[tuple[str, str]] = set()
    for access_point, host in list(matrix.pairs()):
        if host not in available or not matrix.is_trusted(access_point, host):
            continue
        value = matrix.value(access_point, host, LatencyMetric.EWMA)
        if value is not None and math.isfinite(value):
            sampled.add((access_point, host))
            best[access_point] = min(best.get(access_point, math.inf), value)
    for (access_point, host), value in view.summaries.items():
        if host in available and (access_point, host) not in sampled and math.isfinite(value):
            best[access_point] = min(best.get(access_point, math.inf), value)
    return MeasuredFacts(
        best_rtt_ms=best,
        budgets_ms=tuple(view.budgets.values()),
        users_per_access_point=users_per_access_point(users_now(state)),
    )


def subscription_href(subscription: MecSubscription, public_uri: str, path: str) -> str:
    """The subscription's URI: the one the API gave it when it was created (kept in its body).

    A MecSubscription made with kubectl has none: then `public_uri` (or nothing) + its path.
    """
    links = (subscription.spec.body or {}).get("_links")
    href = links.get("self", {}).get("href") if isinstance(links, dict) else None
    if isinstance(href, str) and href:
        return href
    namespace = subscription.metadata.namespace or ""
    name = subscription.metadata.name or ""
    return f"{public_uri.rstrip('/')}/namespaces/{namespace}{ROOT}/subscriptions/{path}/{name}"


def zone_status_filter(subscription: MecSubscription) -> ZoneStatusFilter | None:
    """What a stored ZoneStatusSubscription asks for; None when its body is not one."""
    spec = subscription.spec
    data: dict[str, Any] = dict(spec.body or {})
    if not data:
        data = {
            **(spec.filter or {}),
            "subscriptionType": spec.subscription_type,
            "callbackReference": spec.callback_reference,
        }
    try:
        parsed = ZoneStatusSubscription.model_validate(data)
    except ValidationError as error:
        log.warning(
            "subscription %s/%s is not a valid ZoneStatusSubscription: %s",
            subscription.metadata.namespace,
            subscription.metadata.name,
            error.errors()[:3],
        )
        return None
    return ZoneStatusFilter(
        zone_id=parsed.zone_id,
        operation_status=statuses(parsed.operation_status),
        upper_users_zone=parsed.upper_number_of_users_zone_threshold,
        lower_users_zone=parsed.lower_number_of_users_zone_threshold,
        upper_users_access_point=parsed.upper_number_of_users_ap_threshold,
        lower_users_access_point=parsed.lower_number_of_users_ap_threshold,
    )


def _parsed(subscription: MecSubscription, model: type[Any]) -> Any:
    """The stored subscription as model (None when its body is not one)."""
    spec = subscription.spec
    data: dict[str, Any] = dict(spec.body or {})
    if not data:
        data = {
            **(spec.filter or {}),
            "subscriptionType": spec.subscription_type,
            "callbackReference": spec.callback_reference,
        }
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


class UserLocationNotifier:
    """Users' moves -> UserLocationEvent and ZoneLocationEvent notifications (MEC 013).

    Registered with the users' directory (`UserDirectory.on_position`): each change of a
    device's access point (attach, cell change, leaving) becomes the events of
    `decisions.location.user_events`, sent to every matching subscription, in the order of
    the changes.
    """

    def __init__(self, context: ApiContext, users: UserDirectory) -> None:
        self._context = context
        self._tail: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.stop = users.on_position(self.moved)

    def _position(self, access_point: str | None) -> Position | None:
        if access_point is None:
            return None
        zone = self._context.state.view.zone_of.get(access_point)
        return None if zone is None else Position(zone, access_point)

    def moved(self, address: str, before: str | None, after: str | None) -> None:
        old, new = self._position(before), self._position(after)
        if old == new:
            return
        task = asyncio.get_running_loop().create_task(
            self._notify(self._tail, user_address(address), old, new, datetime.now(UTC)),
            name=f"user-location {address}",
        )
        self._tail = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _notify(
        self,
        previous: asyncio.Task[None] | None,
        address: str,
        old: Position | None,
        new: Position | None,
        at: datetime,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        context = self._context
        notifier = context.notifier
        if notifier is None or not context.state.ready:
            return
        try:
            subscriptions = await list_subscriptions(
                context.state.api, None, subscription_api=SubscriptionApi.LOCATION
            )
        except (ApiError, OSError) as error:
            log.warning("user location notifications not sent: listing subscriptions: %s", error)
            return
        for subscription in subscriptions:
            kind = subscription.spec.subscription_type
            if subscription.spec.is_expired(at):
                continue
            if kind == UserLocationEventSubscription.TYPE:
                user_sub = _parsed(subscription, UserLocationEventSubscription)
                if user_sub is None or user_sub.address != address:
                    continue
                criteria = [c.value for c in user_sub.location_event_criteria or []]
                events = user_events(address, old, new)
                build = user_location_event_notification
                path = "users"
            elif kind == ZoneLocationEventSubscription.TYPE:
                zone_sub = _parsed(subscription, ZoneLocationEventSubscription)
                if zone_sub is None or (
                    zone_sub.address_list and address not in zone_sub.address_list
                ):
                    continue
                criteria = [c.value for c in zone_sub.location_event_criteria or []]
                events = [e for e in zone_events(address, old, new) if e.zone == zone_sub.zone_id]
                build = zone_location_event_notification
                path = "zones"
            else:
                continue
            href = subscription_href(subscription, context.settings.public_uri, path)
            for event in events:
                if wanted(criteria, event):
                    notify_subscriber(
                        notifier,
                        subscription,
                        build(event, href, at),
                        notification_id=f"uln-{uuid.uuid4().hex}",
                        what=kind.replace("Subscription", "Notification"),
                    )


class ZoneNotifier:
    """Zone changes -> ZoneStatusNotifications to matching subscriptions (module docstring)."""

    def __init__(self, context: ApiContext) -> None:
        self._context = context
        # Zones created in the second the notifier started count as new (timestamps are whole
        # seconds): a duplicate notification is better than a missed one.
        self._started = datetime.now(UTC).replace(microsecond=0)
        self._tail: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.stop = context.state.on_zone_change(self.zone_changed)

    def zone_changed(self, name: str, before: Zone | None, after: Zone | None) -> None:
        if before is None and after is not None and self._known_at_start(after):
            return
        facts = measured_facts(self._context.state)
        old = snapshot(zone_facts(before, facts)) if before is not None else None
        new = snapshot(zone_facts(after, facts)) if after is not None else None
        if old == new:
            return
        log.debug("zone %s changed: notifying its ZoneStatusSubscriptions", name)
        task = asyncio.get_running_loop().create_task(
            self._notify(self._tail, old, new, datetime.now(UTC)), name=f"zone-status {name}"
        )
        self._tail = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _known_at_start(self, zone: Zone) -> bool:
        created = zone.metadata.creation_timestamp
        return created is not None and created < self._started

    async def _notify(
        self,
        previous: asyncio.Task[None] | None,
        old: ZoneSnapshot | None,
        new: ZoneSnapshot | None,
        at: datetime,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # keep the order of changes; its failure is its own
        context = self._context
        notifier = context.notifier
        if notifier is None or not context.state.ready:
            return
        try:
            subscriptions = await list_subscriptions(
                context.state.api, None, subscription_api=SubscriptionApi.LOCATION
            )
        except (ApiError, OSError) as error:
            log.warning("zone status notifications not sent: listing subscriptions: %s", error)
            return
        for subscription in subscriptions:
            spec = subscription.spec
            if spec.subscription_type != ZoneStatusSubscription.TYPE or spec.is_expired(at):
                continue
            wanted = zone_status_filter(subscription)
            if wanted is None:
                continue
            href = subscription_href(subscription, context.settings.public_uri, "zones")
            for event in zone_status_events(wanted, old, new):
                body = zone_status_notification(event, href, at)
                notify_subscriber(
                    notifier,
                    subscription,
                    body,
                    notification_id=f"zsn-{uuid.uuid4().hex}",
                    what="ZoneStatusNotification",
                )
