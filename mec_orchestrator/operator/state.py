"""The operator's runtime state, with its one owner: every change goes through a method here.

One `OperatorState` per operator process holds what the handlers, the app daemons, the latency
watch, the agent link and the REST API share: the cluster facts (`ClusterView`), the placement
engine (whose latency matrix the agents feed and the instance plan reads, and which places
users), the app daemons' wake-up events, the newest EdgeApp body seen per app, which package
each app names, the app instances each agent reported (who-is-where, as the agents say), the
API client and the delivery of ETSI notifications. Callers say what happened
(`app_seen`, `agent_lost`, ...); the state decides what it changes and whom it wakes, so no
other module writes these fields.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.adapters.kube.connection import ApiClient, Connection
from mec_orchestrator.decisions.packages.usage import PackageKey, usage_changes
from mec_orchestrator.decisions.users import PlacementEngine
from mec_orchestrator.model import UsageState, Zone
from mec_orchestrator.operator.cluster_view import ClusterView, resource_version
from mec_orchestrator.operator.settings import OperatorSettings

if TYPE_CHECKING:
    from mec_orchestrator.adapters.agent_link import ReportedInstance
    from mec_orchestrator.operator.users import UserDirectory

log = logging.getLogger(__name__)

AppKey = tuple[str, str]
"""(namespace, name) of an EdgeApp."""

ZoneObserver = Callable[[str, Zone | None, Zone | None], None]
"""Told (zone name, the Zone before, the Zone after) when a Zone changes; None: absent."""

UNLIMITED_USERS = 10_000_000
"""User slots of a host whose EdgeHost sets no `capacity.users` (the CRD's maximum)."""


def user_key(namespace: str, app: str, user: str) -> str:
    """The engine's id for one user of one app (users of different apps are different users)."""
    return f"{namespace}/{app}/{user}"


class OperatorState:
    """The one owner of the operator's runtime state (see the module docstring)."""

    def __init__(self, settings: OperatorSettings, connection: Connection) -> None:
        self.settings = settings
        self.connection = connection
        self.engine = PlacementEngine()
        # One delivery of ETSI notifications for the process (the API's subscriptions and the
        # operator's lifecycle operations); `mec-orchestrator run` starts and stops it.
        self.notifier = CallbackDelivery()
        self.view = ClusterView(engine=self.engine)
        self._wakeups: dict[AppKey, asyncio.Event] = {}
        self._generations: dict[AppKey, int | None] = {}  # the generation that last woke an app
        # The newest body seen per app: kopf may wake a daemon before its own view of the body
        # is updated, and a daemon that reconciled a stale body would not be woken again.
        self._bodies: dict[AppKey, dict[str, Any]] = {}
        self._app_changes: dict[AppKey, asyncio.Event] = {}  # set on every event of the app
        self._package_refs: dict[AppKey, str] = {}  # EdgeApp -> the AppPackage it names
        self._package_usage: dict[PackageKey, UsageState | None] = {}  # as last seen or written
        self._api: ApiClient | None = None
        self._ready = False
        self._zone_observers: list[ZoneObserver] = []
        self._reported_instances: dict[str, tuple[ReportedInstance, ...]] = {}  # by host
        # The users (MEC 016 contexts), when the process serves devices: told of the agents'
        # reports (the sessions they hold) and of lost hosts.
        self.users: UserDirectory | None = None
        # Grows whenever what the agents say of the hosts changes (connections, reports): the
        # users' directory caches which instances can take users and compares it.
        self.agent_changes = 0
        self._change_observers: list[Callable[[], None]] = []  # the live view (on_change)

    # Lifecycle

    @property
    def ready(self) -> bool:
        """Kopf has started and the API client exists (what /readyz answers)."""
        return self._ready

    @property
    def api(self) -> ApiClient:
        if self._api is None:
            raise RuntimeError("the operator has not started: no API client yet")
        return self._api

    def started(self, api: ApiClient) -> None:
        self._api = api
        self._ready = True

    async def stopped(self) -> None:
        self._ready = False
        if self._api is not None:
            await self._api.close()

    # App daemons: who wakes whom

    def wakeup(self, key: AppKey) -> asyncio.Event:
        """The event that wakes key's daemon (created on first use)."""
        return self._wakeups.setdefault(key, asyncio.Event())

    def kick(self, namespace: str, name: str) -> None:
        self.wakeup((namespace, name)).set()
        self._changed()

    def kick_all(self) -> None:
        for event in self._wakeups.values():
            event.set()
        self._changed()

    def on_change(self, observer: Callable[[], None]) -> Callable[[], None]:
        """Call observer() whenever what the state knows may have changed; returns the undo.

        Said on every wake-up of apps (instances, hosts, zones, users), app event and agent
        report; observers only note it (the live view reads the state later, at its own pace).
        """
        self._change_observers.append(observer)

        def remove() -> None:
            if observer in self._change_observers:
                self._change_observers.remove(observer)

        return remove

    def _changed(self) -> None:
        for observer in list(self._change_observers):
            try:
                observer()
            except Exception:  # an observer's bug must not stop the operator's handlers
                log.exception("change observer %r failed", observer)

    def app_seen(self, key: AppKey, body: Mapping[str, Any] | None) -> None:
        """An EdgeApp watch event (None: deleted): note it, and wake its daemon if it must act.

        Only a new generation (a spec change) or a deletion needs the daemon: the operator's own
        status writes come back on the watch too, and reconciling on each of them would double
        the work per update for nothing.
        """
        self.view.update_app(*key, body)
        self._changed()
        changed = self._app_changes.get(key)
        if changed is not None:
            changed.set()
        if body is None:
            event = self._wakeups.get(key)  # a daemon still running ends on this wake-up
            if event is not None:
                event.set()
            return
        metadata = body.get("metadata", {})
        self.note_body(key, body)
        generation = metadata.get("generation")
        if bool(metadata.get("deletionTimestamp")) or self._generations.get(key) != generation:
            self._generations[key] = generation
            self.kick(*key)

    def app_changes(self, key: AppKey) -> asyncio.Event:
        """An event set on every watch event of the app, its status writes included.

        Whoever waits for the app's status (lifecycle operations) clears it, then waits.
        """
        return self._app_changes.setdefault(key, asyncio.Event())

    def note_body(self, key: AppKey, body: Mapping[str, Any]) -> None:
        """Keep body as the app's newest, unless a newer one (by resourceVersion) is kept.

        Watch events and the answers to the operator's own status writes both come here, in
        either order; a daemon that started from a body older than its own last status write
        would report the same change twice.
        """
        kept = self._bodies.get(key)
        if kept is None or (resource_version(body) or -1) >= (resource_version(kept) or -1):
            self._bodies[key] = dict(body)

    def newest_body(self, key: AppKey, fallback: Mapping[str, Any]) -> dict[str, Any]:
        return self._bodies.get(key) or dict(fallback)

    def forget_app(self, key: AppKey) -> None:
        """The app is gone: drop what was kept for it."""
        self._wakeups.pop(key, None)
        self._generations.pop(key, None)
        self._bodies.pop(key, None)
        changed = self._app_changes.pop(key, None)
        if changed is not None:
            changed.set()
        self.view.update_app(*key, None)

    # Cluster facts

    def node_seen(self, name: str, body: Mapping[str, Any] | None) -> None:
        if self.view.update_node(name, body):
            self._hosts_changed()

    def edge_host_seen(self, name: str, body: Mapping[str, Any] | None) -> None:
        slots = self._user_slots(name)
        if self.view.update_edge_host(name, body):
            self._hosts_changed()
        elif self._user_slots(name) != slots:  # no instance-plan fact, but the engine's
            self.sync_engine_hosts()  # (not on every status write: agents write those often)

    def zone_seen(self, name: str, body: Mapping[str, Any] | None) -> None:
        before = self.view.zones.get(name)
        if self.view.update_zone(name, body):
            self.kick_all()
        after = self.view.zones.get(name)
        if after != before:
            for observer in list(self._zone_observers):
                try:
                    observer(name, before, after)
                except Exception:  # an observer's bug must not stop the operator's handlers
                    log.exception("zone observer %r failed on zone %s", observer, name)

    def on_zone_change(self, observer: ZoneObserver) -> Callable[[], None]:
        """Call observer(name, before, after) on every change of a Zone; returns the undo.

        Observers run in the handler, on the event loop: they must be quick and must not block
        (schedule work as a task). This is how layers above the operator (the REST API's
        location notifications) hear of Zones without the operator knowing them.
        """
        self._zone_observers.append(observer)

        def remove() -> None:
            if observer in self._zone_observers:
                self._zone_observers.remove(observer)

        return remove

    # AppPackages' usage (MEC 010-2 usageState follows the EdgeApps that name a package)

    def package_ref_seen(self, key: AppKey, body: Mapping[str, Any] | None) -> None:
        """An EdgeApp event (None: deleted): note which package it names, if any."""
        spec = (body or {}).get("spec") or {}
        name = (spec.get("appPackageRef") or {}).get("name")
        deleting = bool((body or {}).get("metadata", {}).get("deletionTimestamp"))
        if body is None or deleting or not isinstance(name, str):
            self._package_refs.pop(key, None)
        else:
            self._package_refs[key] = name

    def package_seen(self, key: PackageKey, body: Mapping[str, Any] | None) -> None:
        """An AppPackage event (None: deleted): note its recorded usage state."""
        if body is None:
            self._package_usage.pop(key, None)
            return
        recorded = (body.get("status") or {}).get("usageState")
        known = {u.value: u for u in UsageState}
        self._package_usage[key] = known.get(recorded) if isinstance(recorded, str) else None

    def package_usage_due(self) -> dict[PackageKey, UsageState]:
        """Packages whose recorded usage state is not what their users make it."""
        return usage_changes(self._package_usage, self._package_refs)

    def package_usage_written(self, key: PackageKey, usage: UsageState) -> None:
        if key in self._package_usage:
            self._package_usage[key] = usage

    # Agents

    def agent_connected(self, host: str) -> None:
        self.agent_changes += 1
        self.view.note_agent_connected(host)
        self._hosts_changed()

    def agent_lost(self, host: str) -> None:
        self.agent_changes += 1
        self.view.note_agent_lost(host)
        self._reported_instances.pop(host, None)
        if self.users is not None:
            self.users.host_lost(host)
        self._hosts_changed()

    def agent_released(self, host: str) -> None:
        """The agent was sent on to the active replica: not a loss, nothing to re-plan."""
        self.agent_changes += 1
        self.view.note_agent_released(host)
        self._reported_instances.pop(host, None)

    def instances_reported(self, host: str, instances: tuple[ReportedInstance, ...]) -> None:
        """Host's agent reported the full set of app instances on its host (replacing the last)."""
        self.agent_changes += 1
        self._reported_instances[host] = tuple(instances)
        self._changed()
        if self.users is not None:
            self.users.sessions_reported(host, self._reported_instances[host])

    def reported_instances(
        self, host: str | None = None
    ) -> dict[str, tuple[ReportedInstance, ...]]:
        """Who-is-where as the agents say: host -> the app instances its agent reported last.

        Each live agent reports after every registration and on every change, so this is rebuilt
        from the agents after a restart or a change of leader, never kept across one. A host
        whose agent is lost or released, or reported nothing yet, is absent. With host given,
        only that host (an empty mapping when it is absent).
        """
        if host is not None:
            held = self._reported_instances.get(host)
            return {} if held is None else {host: held}
        return dict(sorted(self._reported_instances.items()))

    # Users (placed by the engine through the UserDirectory, the MEC 016 front door)

    def users_by_host(self, namespace: str, app: str) -> dict[str, int]:
        """How many of the app's users each host serves now."""
        if self.users is not None:
            return self.users.users_on(namespace, app)
        prefix = user_key(namespace, app, "")
        counts: dict[str, int] = {}
        for user, host in self.engine.index.placements().items():
            if user.startswith(prefix):
                counts[host] = counts.get(host, 0) + 1
        return counts

    def handovers_in_progress(self, namespace: str, app: str) -> int:
        """How many of the app's users are being moved between its instances now."""
        return 0 if self.users is None else self.users.moving(namespace, app)

    def users_by_access_point(self, namespace: str, app: str) -> dict[str, int]:
        """Where the app's users are now: access point -> users (empty without devices)."""
        if self.users is None:
            return {}
        return self.users.users_at(namespace, app)

    def _hosts_changed(self) -> None:
        self.sync_engine_hosts()
        self.kick_all()

    def _user_slots(self, host: str) -> int:
        """The host's user slots: its EdgeHost's `capacity.users`, else unlimited."""
        edge_host = self.view.edge_hosts.get(host)
        capacity = edge_host.spec.capacity if edge_host else None
        return capacity.users if capacity and capacity.users is not None else UNLIMITED_USERS

    def sync_engine_hosts(self) -> list[str]:
        """Give the engine every available host with its user slots; returns evicted users.

        A host that becomes unavailable leaves the engine, and its users are unplaced (the
        engine returns them so the caller can place them again).
        """
        evicted: list[str] = []
        wanted = {h.name: h for h in self.view.host_views(exclude_app=None) if h.available}
        for host in self.engine.index.hosts():
            if host not in wanted:
                evicted += self.engine.remove_host(host)
        for name in sorted(wanted):
            slots = self._user_slots(name)
            if self.engine.index.has_host(name):
                if self.engine.index.capacity(name) != slots:
                    self.engine.set_capacity(name, slots)
            else:
                self.engine.add_host(name, slots)
        if evicted:
            log.warning("%d user(s) lost their host: %s", len(evicted), ", ".join(evicted[:10]))
        return evicted
