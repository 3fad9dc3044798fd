"""The operator's in-memory facts about the cluster, fed by kopf watch events and the agents.

Nodes, EdgeHosts, Zones and instance Deployments arrive as events; this view turns them into
the facts the pure decisions take (HostView, AccessPointView, ObservedInstance). Measured
round-trip times come from two places: the placement engine's latency matrix, fed directly by
the agents connected to this process (see agent_link), and the EdgeHost status summaries, which
survive restarts and cover agents this replica does not hear. What to make of them — a trusted
sample wins, a pair never measured is estimated from distance, hosts ranked per access point —
is decided on the pure side (`decisions.latency`); this module only supplies the facts.

Latency changes do not wake apps from here: they arrive many times a second. The latency watch
compares `latency_ranking()` with its last value every second or so instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mec_orchestrator.adapters.kube.instances import (
    HASH_LABEL,
    SERVICE_HASH_LABEL,
    observed_instance,
)
from mec_orchestrator.decisions.instances.manifests import APP_LABEL
from mec_orchestrator.decisions.instances.views import AccessPointView, HostView, ObservedInstance
from mec_orchestrator.decisions.latency import LatencyMatrix, LatencyMetric
from mec_orchestrator.decisions.latency.estimate import LatencyLookup, latency_lookup
from mec_orchestrator.decisions.latency.ranking import LatencyRanking, rank_hosts
from mec_orchestrator.decisions.users import PlacementEngine
from mec_orchestrator.model import (
    EDGE_HOST_LABEL,
    AgentConnectedReason,
    ConditionStatus,
    EdgeApp,
    EdgeHost,
    EdgeHostConditionType,
    Zone,
)


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


@dataclass
class ClusterView:
    """What the operator knows; every mutation says whether placement may have changed.

    `engine` is the placement engine the operator state owns: its latency matrix is where the
    agents' samples go, and the view reads them there. `clock` times the matrix's samples and
    its trust horizon: the agent server must record with the same clock (seconds, monotonic).
    """

    nodes: dict[str, NodeFacts] = field(default_factory=dict)
    edge_hosts: dict[str, EdgeHost] = field(default_factory=dict)
    zones: dict[str, Zone] = field(default_factory=dict)
    instances: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # uid -> ns, app, host
    observed: dict[str, SeenInstance] = field(default_factory=dict)  # uid -> last watched state
    written: dict[str, int] = field(default_factory=dict)  # uid -> resourceVersion we wrote
    engine: PlacementEngine = field(default_factory=PlacementEngine)
    summaries: dict[tuple[str, str], float] = field(default_factory=dict)  # (ap, host) -> p50
    lost_agents: set[str] = field(default_factory=set)  # lost while connected to this replica
    connected_agents: set[str] = field(default_factory=set)  # connected to this replica now
    # Hosts whose EdgeHost status says their agent was lost (written by whichever replica was
    # active then): unavailable until their agent connects again, so an operator that
    # restarted meanwhile does not put instances back on them.
    lost_by_status: set[str] = field(default_factory=set)
    budgets: dict[tuple[str, str], float] = field(default_factory=dict)  # (ns, app) -> maxMs
    apps: dict[tuple[str, str], EdgeApp] = field(default_factory=dict)  # valid EdgeApps
    cells: dict[str, str] = field(default_factory=dict)  # cell id (lower case) -> access point
    zone_of: dict[str, str] = field(default_factory=dict)  # access point -> its zone
    # Grows on every change of an instance Deployment: who caches per-instance facts compares it.
    instance_changes: int = 0
    clock: Callable[[], float] = time.monotonic

    @property
    def latency(self) -> LatencyMatrix:
        """The measured latencies (the engine's matrix, which the agents feed)."""
        return self.engine.matrix

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

    def note_agent_connected(self, host: str) -> None:
        self.lost_agents.discard(host)
        self.connected_agents.add(host)

    def note_agent_lost(self, host: str) -> None:
        self.lost_agents.add(host)
        self.connected_agents.discard(host)

    def note_agent_released(self, host: str) -> None:
        """Sent on to the active replica: neither connected here nor lost."""
        self.connected_agents.discard(host)

    def agent_lost(self, host: str) -> bool:
        """The host's agent is lost: seen going silent here, or so recorded and not back."""
        return host in self.lost_agents or (
            host in self.lost_by_status and host not in self.connected_agents
        )

    def update_app(self, namespace: str, name: str, body: Mapping[str, Any] | None) -> None:
        """Note an EdgeApp and its one-way latency budget (None: the app is gone)."""
        parsed = None
        if body is not None and not (body.get("metadata") or {}).get("deletionTimestamp"):
            try:
                parsed = EdgeApp.model_validate(body)
            except ValueError:
                parsed = None  # the API server validated it; an older schema's object is skipped
        if parsed is None:
            self.apps.pop((namespace, name), None)
        else:
            self.apps[(namespace, name)] = parsed
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
        self.cells = {
            ap.cell_id.lower(): ap.id
            for _, zone in sorted(self.zones.items())
            for ap in zone.spec.access_points
            if ap.cell_id is not None
        }
        self.zone_of = {
            ap.id: zone_name
            for zone_name, zone in sorted(self.zones.items())
            for ap in zone.spec.access_points
        }
        return self.access_points() != before

    def update_instance(self, uid: str, body: Mapping[str, Any] | None) -> None:
        """Record an instance Deployment (None: deleted).

        Both the watch and the answers to the operator's own writes come here, in either order;
        an object older than the one recorded (by resourceVersion, which the API server draws
        from etcd's revision) is ignored, so a late answer cannot hide what the watch delivered.
        """
        self.instance_changes += 1
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
        nodes_of: dict[str, list[NodeFacts]] = {}
        for node in self.nodes.values():  # once, not per host: thousands of hosts are fine
            nodes_of.setdefault(node.host, []).append(node)
        views: list[HostView] = []
        for host in sorted(nodes_of):
            facts = nodes_of[host]
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
        """Latency as placement uses it now: a trusted sample, else a summary, else an estimate."""
        matrix = self.latency
        self.engine.expire_stale(self.clock())  # is_trusted applies the horizon as of now

        def measured(access_point: str, host: str) -> float | None:
            value = matrix.value(access_point, host, LatencyMetric.EWMA)
            if value is None or not matrix.is_trusted(access_point, host):
                value = self.summaries.get((access_point, host))
            return value

        return latency_lookup(
            measured,
            {ap.id: ap.location for ap in self.access_points()},
            {h.name: h.location for h in hosts},
        )

    def latency_ranking(self) -> LatencyRanking:
        """Every access point's hosts ranked as placement would see them now (see rank_hosts)."""
        hosts = self.host_views(exclude_app=None)
        return rank_hosts(
            (ap.id for ap in self.access_points()),
            [h.name for h in hosts],
            self.lookup_latency(hosts),
            self.budgets.values(),
        )


def _agent_lost_in_status(host: EdgeHost) -> bool:
    conditions = (host.status.conditions if host.status else None) or []
    return any(
        c.type == EdgeHostConditionType.AGENT_CONNECTED
        and c.status == ConditionStatus.FALSE
        and c.reason == AgentConnectedReason.HEARTBEAT_TIMEOUT
        for c in conditions
    )
