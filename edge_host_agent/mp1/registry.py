"""The app instances registered on this host over Mp1: the one copy the agent keeps of them.

`AppInstanceRegistry` maps an app instance id to its `AppInstance`: the registration (the
`AppInfo` as served back), whether the app confirmed it is ready, its user-context gRPC
endpoint, its termination subscriptions and where a termination it was asked for stands. Pure
bookkeeping, no I/O: the routes and `Mp1Service` call it, and the agent's link reports
`instances()` to the orchestrator: `version` grows with every change of what is reported (an
instance registered, updated, ready or deregistered), and `watch(callback)` calls back on each.
Errors are `UnknownAppInstanceError` / `UnknownSubscriptionError` (KeyError: 404) and
`RegistryConflictError` (ValueError: 400 or 409).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge_host_agent.mp1.models import AppInfo
from edge_host_agent.versioned import Versioned

log = logging.getLogger(__name__)


class UnknownAppInstanceError(KeyError):
    """No app instance registered under this id."""


class UnknownSubscriptionError(KeyError):
    """The app instance has no subscription with this id."""


class RegistryConflictError(ValueError):
    """The call does not fit the instance's state (already registered, nothing to confirm)."""


@dataclass
class TerminationSubscription:
    """An app's AppTerminationNotificationSubscription."""

    subscription_id: str
    app_instance_id: str
    callback_reference: str


@dataclass
class AppInstance:
    """One registered app instance."""

    app_instance_id: str
    info: AppInfo
    registered_at: float
    ready: bool = False
    ready_at: float | None = None
    subscriptions: dict[str, TerminationSubscription] = field(default_factory=dict)
    termination_action: str | None = None
    """The operationAction of the termination asked for (None: none asked)."""
    termination_grace_s: int | None = None
    termination_confirmed: bool = False

    @property
    def user_context_endpoint(self) -> str | None:
        """host:port of the app's UserContextService (`appProfile.userContextEndpoint`)."""
        return self.info.user_context_endpoint

    @property
    def app_name(self) -> str:
        return self.info.app_name

    @property
    def endpoint_uri(self) -> str | None:
        """The first URI of the app's `endpoint` (where devices reach it); None without one."""
        endpoint = self.info.endpoint
        return endpoint.uris[0] if endpoint is not None and endpoint.uris else None

    def app_info(self) -> dict[str, Any]:
        """The AppInfo as served: what the app sent, with its appInstanceId."""
        return {**self.info.etsi(), "appInstanceId": self.app_instance_id}


class AppInstanceRegistry(Versioned):
    """App instance id -> AppInstance, with the Mp1 operations as methods."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        # `version` grows by one with every change of an instance's registration, readiness
        # or presence; `watch` callbacks are told after each.
        super().__init__()
        self._clock = clock
        self._instances: dict[str, AppInstance] = {}

    def __len__(self) -> int:
        return len(self._instances)

    def instances(self) -> list[AppInstance]:
        """Every registered instance, in registration order."""
        return list(self._instances.values())

    def find(self, app_instance_id: str) -> AppInstance | None:
        return self._instances.get(app_instance_id)

    def get(self, app_instance_id: str) -> AppInstance:
        instance = self._instances.get(app_instance_id)
        if instance is None:
            raise UnknownAppInstanceError(app_instance_id)
        return instance

    def register(self, info: AppInfo) -> AppInstance:
        """A new instance under info's appInstanceId (a fresh UUID when the app gives none).

        Registering again under an id already registered replaces that registration: it is the
        same instance, restarted (a container restart keeps the id the platform gave it), and
        its old process's readiness and subscriptions end with it.
        """
        app_instance_id = info.app_instance_id or str(uuid.uuid4())
        if app_instance_id in self._instances:
            log.warning("app instance %s registered again (restarted): replaced", app_instance_id)
        instance = AppInstance(app_instance_id, info, registered_at=self._clock())
        self._instances[app_instance_id] = instance
        self._changed()
        log.info(
            "app instance %s (%s) registered, user-context endpoint %s",
            app_instance_id,
            info.app_name,
            instance.user_context_endpoint or "none",
        )
        return instance

    def update(self, app_instance_id: str, info: AppInfo) -> AppInstance:
        """New AppInfo for an instance; its ready flag and subscriptions stay."""
        instance = self.get(app_instance_id)
        if info.app_instance_id not in (None, app_instance_id):
            raise RegistryConflictError(
                f"appInstanceId: {info.app_instance_id} is not the instance of the path "
                f"({app_instance_id})"
            )
        instance.info = info
        self._changed()
        return instance

    def deregister(self, app_instance_id: str) -> AppInstance:
        instance = self._instances.pop(app_instance_id, None)
        if instance is None:
            raise UnknownAppInstanceError(app_instance_id)
        self._changed()
        log.info("app instance %s deregistered", app_instance_id)
        return instance

    def confirm_ready(self, app_instance_id: str) -> AppInstance:
        instance = self.get(app_instance_id)
        if not instance.ready:
            instance.ready = True
            instance.ready_at = self._clock()
            self._changed()
            log.info("app instance %s is ready", app_instance_id)
        return instance

    def begin_termination(
        self, app_instance_id: str, grace_seconds: int, action: str = "TERMINATING"
    ) -> list[TerminationSubscription]:
        """Note that the instance is asked to terminate; the subscriptions to notify."""
        instance = self.get(app_instance_id)
        instance.termination_action = action
        instance.termination_grace_s = grace_seconds
        instance.termination_confirmed = False
        return list(instance.subscriptions.values())

    def confirm_termination(self, app_instance_id: str, action: str) -> AppInstance:
        """The app is done: its answer must name the operationAction it was notified of."""
        instance = self.get(app_instance_id)
        if instance.termination_action is None:
            raise RegistryConflictError(
                f"app instance {app_instance_id} was not asked to terminate or stop"
            )
        if action != instance.termination_action:
            raise RegistryConflictError(
                f"operationAction: {action} does not match the {instance.termination_action} "
                "the instance was notified of"
            )
        instance.termination_confirmed = True
        log.info("app instance %s confirmed %s", app_instance_id, action)
        return instance

    def subscribe_termination(
        self, app_instance_id: str, callback_reference: str
    ) -> TerminationSubscription:
        instance = self.get(app_instance_id)
        subscription = TerminationSubscription(
            str(uuid.uuid4()), app_instance_id, callback_reference
        )
        instance.subscriptions[subscription.subscription_id] = subscription
        return subscription

    def subscription(self, app_instance_id: str, subscription_id: str) -> TerminationSubscription:
        subscription = self.get(app_instance_id).subscriptions.get(subscription_id)
        if subscription is None:
            raise UnknownSubscriptionError(subscription_id)
        return subscription

    def unsubscribe(self, app_instance_id: str, subscription_id: str) -> TerminationSubscription:
        subscription = self.get(app_instance_id).subscriptions.pop(subscription_id, None)
        if subscription is None:
            raise UnknownSubscriptionError(subscription_id)
        return subscription
