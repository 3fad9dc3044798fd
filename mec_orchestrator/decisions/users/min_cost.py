"""Least-total-latency placement of groups of interchangeable users on hosts with capacities.

The online engine places users one at a time on their nearest free host. When capacity binds, an
early user can take the slot a later user needed more: the total latency drifts above the
optimum, and a user can even be left without a host while a complete assignment exists. This
computes the optimum as a min-cost max-flow (source -> groups -> hosts -> sink), starting from a
given assignment and improving it:

1. cancel negative cycles (each a chain of moves, or a swap of which user is left unplaced, that
   lowers the total) until there is none: the flow is then the cheapest for its size;
2. place unplaced users along cheapest augmenting paths, which keeps it the cheapest.

Started from the greedy assignment it is the repair step, and the moves it implies are few. With
`keep_placed`, no group ends with fewer placed users than it started with (nobody placed is
evicted to make room for someone else).

Users are grouped by what makes them interchangeable (access point and allow-list); a group's
cost per host is the latency of one of its users there. Improvements below a nanosecond are
ignored. Both phases are queue-based Bellman-Ford (SPFA) over the residual network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mec_orchestrator.decisions.names import HostName

_EPSILON = 1e-9
_UNBOUNDED = 1 << 62

Flow = dict[tuple[int, HostName], int]
_Arc = tuple[int, int]  # (tail node, head node)


@dataclass(frozen=True, slots=True)
class DemandGroup:
    """size interchangeable users; costs: the latency of one of them on each usable host."""

    size: int
    costs: Mapping[HostName, float]


def placement_cost(
    groups: Sequence[DemandGroup], flow: Mapping[tuple[int, HostName], int]
) -> float:
    return sum(groups[group].costs[host] * units for (group, host), units in flow.items())


def min_cost_placement(
    groups: Sequence[DemandGroup],
    capacity: Mapping[HostName, int],
    initial: Mapping[tuple[int, HostName], int] | None = None,
    *,
    keep_placed: bool = False,
) -> Flow:
    """As many users placed as capacity allows, at the least total cost.

    Returns units per (group index, host), non-zero entries only. `initial` (same shape) must be
    feasible: usable hosts only, within capacities and group sizes. With keep_placed, each
    group keeps at least as many users placed as `initial` gives it.
    """
    network = _Network(groups, capacity, initial or {}, keep_placed=keep_placed)
    network.cancel_negative_cycles()
    network.augment_unplaced()
    return network.result()


class _Network:
    """The residual network. Nodes: groups 0..G-1, then hosts, then the sink, then the source."""

    def __init__(
        self,
        groups: Sequence[DemandGroup],
        capacity: Mapping[HostName, int],
        initial: Mapping[tuple[int, HostName], int],
        *,
        keep_placed: bool,
    ) -> None:
        self.groups = len(groups)
        self.host_names = sorted(capacity)
        self.host_node = {host: self.groups + i for i, host in enumerate(self.host_names)}
        self.sink = self.groups + len(self.host_names)
        self.source = self.sink + 1
        self.nodes = self.source + 1
        self.capacity = [0] * self.nodes
        self.load = [0] * self.nodes
        for host, node in self.host_node.items():
            if capacity[host] < 0:
                raise ValueError(f"capacity of {host!r} is negative")
            self.capacity[node] = capacity[host]
        self.size = [group.size for group in groups]
        if any(size < 0 for size in self.size):
            raise ValueError("a group size is negative")
        self.placed = [0] * self.groups
        self.cost: dict[_Arc, float] = {}
        self.forward: list[list[tuple[int, float]]] = []
        for index, group in enumerate(groups):
            arcs = []
            for host in sorted(group.costs):
                host_node = self.host_node.get(host)
                if host_node is not None:
                    self.cost[index, host_node] = group.costs[host]
                    arcs.append((host_node, group.costs[host]))
            self.forward.append(arcs)
        # Per host node: group -> units of that group on the host (positive entries only).
        self.inflow: dict[int, dict[int, int]] = {node: {} for node in self.host_node.values()}
        for (group_index, host), units in sorted(initial.items()):
            self._add_initial(group_index, host, units)
        self.floor = list(self.placed) if keep_placed else [0] * self.groups

    def _add_initial(self, group: int, host: HostName, units: int) -> None:
        node = self.host_node.get(host)
        if node is None or (group, node) not in self.cost:
            raise ValueError(f"initial flow uses an unusable host {host!r} for group {group}")
        if units < 0:
            raise ValueError("initial flow is negative")
        if units == 0:
            return
        flows = self.inflow[node]
        flows[group] = flows.get(group, 0) + units
        self.placed[group] += units
        self.load[node] += units
        if self.placed[group] > self.size[group] or self.load[node] > self.capacity[node]:
            raise ValueError("initial flow exceeds a group size or a host capacity")

    def outgoing(self, node: int) -> list[tuple[int, float]]:
        """Residual arcs leaving node, with their costs."""
        if node < self.groups:
            if self.placed[node] > self.floor[node]:
                return [*self.forward[node], (self.source, 0.0)]
            return self.forward[node]
        if node < self.sink:
            arcs = [(group, -self.cost[group, node]) for group in self.inflow[node]]
            if self.load[node] < self.capacity[node]:
                arcs.append((self.sink, 0.0))
            return arcs
        if node == self.sink:
            return [(host, 0.0) for host in self.host_node.values() if self.load[host] > 0]
        return [(g, 0.0) for g in range(self.groups) if self.placed[g] < self.size[g]]

    def room(self, tail: int, head: int) -> int:
        """Residual capacity of the arc tail -> head."""
        if tail == self.source:
            return self.size[head] - self.placed[head]
        if head == self.source:
            return self.placed[tail] - self.floor[tail]
        if head == self.sink:
            return self.capacity[tail] - self.load[tail]
        if tail == self.sink:
            return self.load[head]
        if tail < self.groups:
            return _UNBOUNDED
        return self.inflow[tail].get(head, 0)

    def arc_cost(self, tail: int, head: int) -> float:
        if tail >= self.sink or head >= self.sink:
            return 0.0
        if tail < self.groups:
            return self.cost[tail, head]
        return -self.cost[head, tail]

    def push(self, arcs: Sequence[_Arc]) -> None:
        amount = min(self.room(tail, head) for tail, head in arcs)
        for tail, head in arcs:
            if tail == self.source:
                self.placed[head] += amount
            elif head == self.source:
                self.placed[tail] -= amount
            elif head == self.sink:
                self.load[tail] += amount
            elif tail == self.sink:
                self.load[head] -= amount
            elif tail < self.groups:
                flows = self.inflow[head]
                flows[tail] = flows.get(tail, 0) + amount
            else:
                flows = self.inflow[tail]
                flows[head] -= amount
                if flows[head] == 0:
                    del flows[head]

    def cancel_negative_cycles(self) -> None:
        """Cancel negative cycles until none is left.

        Queue-based Bellman-Ford from a virtual source; every so often the predecessor graph is
        searched for cycles (each one negative), which are cancelled. The distances are kept
        across cancellations (they only ever decrease, so every later predecessor cycle is still
        negative); the nodes of a cancelled cycle lose their predecessor and are queued again,
        since their arcs changed. When the queue runs dry every arc is satisfied: the distances
        are a feasible potential, which proves there is no negative cycle left.
        """
        nodes = self.nodes
        distance = [0.0] * nodes
        predecessor = [-1] * nodes
        queue = deque(range(nodes))
        queued = [True] * nodes
        relaxations = 0
        while queue:
            tail = queue.popleft()
            queued[tail] = False
            base = distance[tail]
            for head, cost in self.outgoing(tail):
                if base + cost < distance[head] - _EPSILON:
                    distance[head] = base + cost
                    predecessor[head] = tail
                    relaxations += 1
                    if not queued[head]:
                        queued[head] = True
                        queue.append(head)
            if relaxations < nodes:
                continue
            relaxations = 0
            for cycle in _predecessor_cycles(predecessor):
                # Negative by construction; the check only guards against rounding.
                if sum(self.arc_cost(t, h) for t, h in cycle) < -_EPSILON:
                    self.push(cycle)
                for _, member in cycle:
                    predecessor[member] = -1
                    if not queued[member]:
                        queued[member] = True
                        queue.append(member)

    def augment_unplaced(self) -> None:
        while any(self.placed[g] < self.size[g] for g in range(self.groups)):
            path = self.cheapest_path()
            if path is None:
                return
            self.push(path)

    def cheapest_path(self) -> list[_Arc] | None:
        """Cheapest source -> sink path (queue-based Bellman-Ford; no negative cycle exists)."""
        nodes = self.nodes
        distance = [float("inf")] * nodes
        predecessor = [-1] * nodes
        distance[self.source] = 0.0
        queue = deque([self.source])
        queued = [False] * nodes
        queued[self.source] = True
        while queue:
            tail = queue.popleft()
            queued[tail] = False
            base = distance[tail]
            for head, cost in self.outgoing(tail):
                if base + cost < distance[head] - _EPSILON:
                    distance[head] = base + cost
                    predecessor[head] = tail
                    if not queued[head]:
                        queued[head] = True
                        queue.append(head)
        if predecessor[self.sink] == -1:
            return None
        path: list[_Arc] = []
        node = self.sink
        while node != self.source:
            path.append((predecessor[node], node))
            node = predecessor[node]
            if len(path) > nodes:
                raise RuntimeError("cycle on a cheapest path: the network had a negative cycle")
        path.reverse()
        return path

    def result(self) -> Flow:
        return {
            (group, self.host_names[node - self.groups]): units
            for node, flows in self.inflow.items()
            for group, units in sorted(flows.items())
            if units > 0
        }


def _predecessor_cycles(predecessor: list[int]) -> list[list[_Arc]]:
    """Every cycle of the predecessor graph (they share no node), each as its arcs."""
    state = [0] * len(predecessor)  # 0: unseen, 1: on the current path, 2: done
    cycles: list[list[_Arc]] = []
    for start in range(len(predecessor)):
        path: list[int] = []
        node = start
        while node != -1 and state[node] == 0:
            state[node] = 1
            path.append(node)
            node = predecessor[node]
        if node != -1 and state[node] == 1:
            members = path[path.index(node) :]
            cycles.append([(predecessor[member], member) for member in members])
        for member in path:
            state[member] = 2
    return cycles
