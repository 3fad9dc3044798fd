"""The operator's in-memory view of the cluster, fed by kopf watch events.

Nodes, EdgeHosts, Zones and instance Deployments arrive as events; this view turns them into
the reconciler's HostView / AccessPointView / Latency facts. Measured round-trip times come
from two places: the latency matrix, fed directly by the agents connected to this process (see
agent_link), and the EdgeHost status summaries, which survive restarts and cover agents this
replica does not hear. A trusted pair of the matrix wins; where a pair was never measured, an
estimate from distance keeps a new cluster usable and is reported as an estimate.

Latency changes do not wake apps from here: they arrive many times a second. The latency watch
compares `latency_ranking()` with its last value every second or so instead.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mec_orchestrator.kube.instances import HASH_LABEL, SERVICE_HASH_LABEL, observed_instance
from mec_orchestrator.model import (
    EDGE_HOST_LABEL,
    ConditionStatus,
    EdgeHost,
    EdgeHostConditionType,
    Zone,
)
from mec_orchestrator.model.conditions import AGENT_LOST_REASON
from mec_orchestrator.placement import LatencyMatrix, LatencyMetric, LatencySettings
from mec_orchestrator.reconcile.manifests import APP_LABEL
from mec_orchestrator.reconcile.views import (
    AccessPointView,
    HostView,
    Latency,
    LatencyLookup,
    ObservedInstance,
)
from mec_orchestrator.sim.topology import distance_km

RADIO_FLOOR_RTT_MS = 1.0  # radio + processing, both ways, for distance-based estimates
FIBRE_RTT_MS_PER_KM = 0.02  # ~10 µs per km each way


@dataclass(frozen=True)
class NodeFacts:
    host: str
    ready: bool
    unschedulable: bool


def node_facts(body: Mapping[str, Any]) -> NodeFacts | None:
    labels = body.get("metadata", {}).get("labels") or {}
    host = labels.get(EDGE_HOST_LABEL)
    if not host:
        return None
    conditions = (body.get("status") or {}).get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = (body.get("spec") or {}).get("taints") or []
    not_ready_taint = any(t.get("key") == "node.kubernetes.io/unreachable" for t in taints)
    return NodeFacts(
        host=host,
        ready=ready and not not_ready_taint,
        unschedulable=bool((body.get("spec") or {}).get("unschedulable")),
    )


@dataclass(frozen=True)
class SeenInstance:
    """An instance Deployment as last seen (watch or our own write), with its manifest hashes."""

    instance: ObservedInstance
    manifest_hash: str | None
    service_hash: str | None
    resource_version: int | None = None


def resource_version(body: Mapping[str, Any]) -> int | None:
    """An object's resourceVersion as a number (the API server draws it from etcd's revision)."""
    text = str(body.get("metadata", {}).get("resourceVersion", ""))
    return int(text) if text.isdigit() else None


HostRank = tuple[str, bool, int]
"""(host, measured, number of known one-way budgets its latency misses)."""

LatencyRanking = tuple[tuple[str, tuple[HostRank, ...]], ...]
"""Per access point id, its hosts from the lowest latency up."""


@dataclass
class ClusterView:
    """What the operator knows; every mutation says whether placement may have changed.

    `clock` times the matrix's samples and its trust horizon: the agent server must record with
    the same clock (seconds, monotonic).
    """

    nodes: dict[str, NodeFacts] = field(default_factory=dict)
    edge_hosts: dict[str, EdgeHost] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)
    instances: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # uid -> ns, app, host
    observed: dict[str, SeenInstance] = field(default_factory=dict)  # uid -> last watched state
    written: dict[str, int] = field(default_factory=dict)  # uid -> resourceVersion we wrote
    latency: LatencyMatrix = field(default_factory=lambda: LatencyMatrix(LatencySettings()))
    summaries: dict[tuple[str, str], float] = field(default_factory=dict)  # (ap, host) -> p50
    lost_agents: set[str] = field(default_factory=set)  # lost while connected to this replica
    connected_agents: set[str] = field(default_factory=set)  # connected to this replica now
    # Hosts whose EdgeHost status says their agent was lost (written by whichever replica was
    # active then): unavailable until their agent connects again, so an operator that
    # restarted meanwhile does not put instances back on them.
    lost_by_status: set[str] = field(default_factory=set)
    budgets: dict[tuple[str, str], float] = field(default_factory=dict)  # (ns, app) -> maxMs
    clock: Callable[[], float] = time.monotonic

    def _host_snapshot(self) -> list[HostView]:
        return self.host_views(exclude_app=None)

    def update_node(self, name: str, body: Mapping[str, Any] | None) -> bool:
        before = self._host_snapshot()
        facts = node_facts(body) if body is not None else None
        if facts is None:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = facts
        return self._host_snapshot() != before

    def update_edge_host(self, name: str, body: Mapping[str, Any] | None) -> bool:
        """Note an EdgeHost; True when a host's facts changed (its RTTs: see latency_ranking)."""
        before = self._host_snapshot()
        if body is None:
            self.edge_hosts.pop(name, None)
        else:
            host = EdgeHost.model_validate(body)
            self.edge_hosts[name] = host
            for pair in [p for p in self.summaries if p[1] == name]:
                del self.summaries[pair]
            for entry in (host.status.access_point_rtt if host.status else None) or []:
                self.summaries[(entry.access_point_id, name)] = entry.p50_ms
        if body is not None and _agent_lost_in_status(self.edge_hosts[name]):
            self.lost_by_status.add(name)
        else:
            self.lost_by_status.discard(name)
        return self._host_snapshot() != before

    def agent_lost(self, host: str) -> bool:
        """The host's agent is lost: seen going silent here, or so recorded and not back."""
        return host in self.lost_agents or (
            host in self.lost_by_status and host not in self.connected_agents
        )

    def update_app(self, namespace: str, name: str, body: Mapping[str, Any] | None) -> None:
        """Note an EdgeApp's one-way latency budget (None: the app is gone)."""
        spec = (body or {}).get("spec") or {}
        budget = (spec.get("latency") or {}).get("maxMs")
        if body is None or not isinstance(budget, int | float):
            self.budgets.pop((namespace, name), None)
        else:
            self.budgets[(namespace, name)] = float(budget)

    def update_zone(self, name: str, body: Mapping[str, Any] | None) -> bool:
        before = self.access_points()
        if body is None:
            self.zones.pop(name, None)
        else:
            self.zones[name] = Zone.model_validate(body)
        return self.access_points() != before

    def update_instance(self, uid: str, body: Mapping[str, Any] | None) -> None:
        """Record an instance Deployment (None: deleted).

        Both the watch and the answers to the operator's own writes come here, in either order;
        an object older than the one recorded (by resourceVersion, which the API server draws
        from etcd's revision) is ignored, so a late answer cannot hide what the watch delivered.
        """
        labels = (body or {}).get("metadata", {}).get("labels") or {}
        seen = observed_instance(body) if body is not None else None
        if body is None or seen is None or APP_LABEL not in labels:
            self.instances.pop(uid, None)
            self.observed.pop(uid, None)
            self.written.pop(uid, None)
            return
        version = resource_version(body)
        known = self.observed.get(uid)
        if (
            known is not None
            and known.resource_version is not None
            and version is not None
            and version < known.resource_version
        ):
            return
        namespace = body.get("metadata", {}).get("namespace", "")
        self.instances[uid] = (namespace, labels[APP_LABEL], labels[EDGE_HOST_LABEL])
        self.observed[uid] = SeenInstance(
            seen, labels.get(HASH_LABEL), labels.get(SERVICE_HASH_LABEL), version
        )

    def record_written_instance(self, body: Mapping[str, Any]) -> None:
        """Record the API server's answer to the operator's own write of an instance."""
        uid = str(body.get("metadata", {}).get("uid", ""))
        self.update_instance(uid, body)
        version = resource_version(body)
        if version is not None:
            self.written[uid] = version

    def echoes_own_write(self, uid: str, body: Mapping[str, Any]) -> bool:
        """The watch delivers exactly what the operator wrote (and already took into account)."""
        version = resource_version(body)
        return version is not None and self.written.get(uid) == version

    def observed_instances(self, namespace: str, app: str) -> list[SeenInstance]:
        """The app's instance Deployments as last seen on the watch."""
        return [
            self.observed[uid]
            for uid, (ns, name, _) in self.instances.items()
            if ns == namespace and name == app and uid in self.observed
        ]

    def instances_per_host(self) -> dict[str, int]:
        counts = dict.fromkeys(self.host_names(), 0)
        for _, _, host in self.instances.values():
            counts[host] = counts.get(host, 0) + 1
        return counts

    def host_names(self) -> list[str]:
        return sorted({f.host for f in self.nodes.values()})

    def host_views(self, exclude_app: tuple[str, str] | None) -> list[HostView]:
        per_host: dict[str, int] = {}
        for namespace, app, host in self.instances.values():
            if (namespace, app) != exclude_app:
                per_host[host] = per_host.get(host, 0) + 1
        views: list[HostView] = []
        for host in self.host_names():
            facts = [f for f in self.nodes.values() if f.host == host]
            ready = [f for f in facts if f.ready]
            edge_host = self.edge_hosts.get(host)
            capacity = (
                edge_host.spec.capacity.instances if edge_host and edge_host.spec.capacity else None
            )
            location = (
                (edge_host.spec.location.latitude, edge_host.spec.location.longitude)
                if edge_host
                else None
            )
            views.append(
                HostView(
                    name=host,
                    ready=bool(ready),
                    cordoned=bool(ready) and all(f.unschedulable for f in ready),
                    agent_lost=self.agent_lost(host),
                    capacity_instances=capacity,
                    instances_of_other_apps=per_host.get(host, 0),
                    location=location,
                )
            )
        return views

    def access_points(self) -> list[AccessPointView]:
        return sorted(
            (
                AccessPointView(
                    id=ap.id, zone=name, location=(ap.location.latitude, ap.location.longitude)
                )
                for name, zone in self.zones.items()
                for ap in zone.spec.access_points
            ),
            key=lambda ap: ap.id,
        )

    def lookup_latency(self, hosts: list[HostView]) -> LatencyLookup:
        """A LatencyLookup over the measured matrix, falling back to a distance estimate."""
        locations = {h.name: h.location for h in hosts}
        ap_locations = {ap.id: ap.location for ap in self.access_points()}
        self.latency.expire(self.clock())  # is_trusted applies the horizon as of now

        def lookup(ap: str, host: str) -> Latency | None:
            measured = self.latency.value(ap, host, LatencyMetric.EWMA)
            if measured is None or not self.latency.is_trusted(ap, host):
                measured = self.summaries.get((ap, host))
            if measured is not None:
                return Latency(measured, measured=True)
            here, there = ap_locations.get(ap), locations.get(host)
            if here is None or there is None:
                return None
            km = distance_km(here[0], here[1], there[0], there[1])
            return Latency(RADIO_FLOOR_RTT_MS + FIBRE_RTT_MS_PER_KM * km, measured=False)

        return lookup

    def latency_ranking(self) -> LatencyRanking:
        """Every access point's hosts ordered by the latency placement would use now.

        Each host also says whether that latency is measured and how many of the known apps'
        budgets it misses, so a pair crossing some app's budget, or turning from estimated to
        measured, changes the ranking even when the order stays. What this cannot see is a
        change of a sum of RTTs that breaks a tie between hosts covering several access points;
        the periodic resync covers that. Cost: one lookup per (access point, host).
        """
        hosts = self.host_views(exclude_app=None)
        lookup = self.lookup_latency(hosts)
        budgets = sorted(set(self.budgets.values()))
        ranking: list[tuple[str, tuple[HostRank, ...]]] = []
        for ap in sorted({ap.id for ap in self.access_points()}):
            ranked: list[tuple[float, str, bool, int]] = []
            for host in hosts:
                value = lookup(ap, host.name)
                if value is not None:
                    missed = bisect_left(budgets, value.one_way_ms)
                    ranked.append((value.rtt_ms, host.name, value.measured, missed))
            ranked.sort()
            ranking.append(
                (ap, tuple((name, measured, missed) for _, name, measured, missed in ranked))
            )
        return tuple(ranking)


def _agent_lost_in_status(host: EdgeHost) -> bool:
    conditions = (host.status.conditions if host.status else None) or []
    return any(
        c.type == EdgeHostConditionType.AGENT_CONNECTED
        and c.status == ConditionStatus.FALSE
        and c.reason == AGENT_LOST_REASON
        for c in conditions
    )
