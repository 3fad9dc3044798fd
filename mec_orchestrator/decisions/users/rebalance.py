"""Rebalancing: from the users' current hosts to the least total latency, as a list of moves.

The engine's online choices are greedy; a rebalance groups the users into interchangeable groups
(same access point, same allow-list), solves the min-cost placement from the current assignment
(see `min_cost`), and turns the difference into individual moves, chosen deterministically
(users in name order, hosts in name order).
"""

from __future__ import annotations

from dataclasses import dataclass

from mec_orchestrator.decisions.names import AccessPointId, HostName, UserId
from mec_orchestrator.decisions.users.index import PlacementIndex
from mec_orchestrator.decisions.users.min_cost import DemandGroup, min_cost_placement


@dataclass(frozen=True, slots=True)
class Move:
    """One user to move to another host, from a rebalance plan.

    from_host None: a waiting user that gets a host.
    """

    user: UserId
    access_point: AccessPointId
    from_host: HostName | None
    to_host: HostName
    from_latency_ms: float | None
    to_latency_ms: float


_GroupKey = tuple[AccessPointId, frozenset[HostName] | None]


class RebalancePlan:
    """Users grouped by (access point, allow-list), the min-cost flow, and the moves it implies."""

    def __init__(self, index: PlacementIndex) -> None:
        self.index = index
        self.keys: dict[_GroupKey, int] = {}
        self.members: list[dict[HostName | None, list[UserId]]] = []
        self.costs: list[dict[HostName, float]] = []
        self.pinned: dict[HostName, int] = {}

    def pin(self, host: HostName) -> None:
        self.pinned[host] = self.pinned.get(host, 0) + 1

    def add(
        self,
        user: UserId,
        access_point: AccessPointId,
        allowed: frozenset[HostName] | None,
        host: HostName | None,
    ) -> None:
        key = (access_point, allowed)
        group = self.keys.get(key)
        if group is None:
            group = self.keys[key] = len(self.members)
            row = self.index.latency_row(access_point)
            self.costs.append({h: v for h, v in row.items() if allowed is None or h in allowed})
            self.members.append({})
        self.members[group].setdefault(host, []).append(user)

    def solve(self, over: set[HostName]) -> list[Move]:
        groups = [
            DemandGroup(sum(len(users) for users in members.values()), costs)
            for members, costs in zip(self.members, self.costs, strict=True)
        ]
        initial = {
            (group, host): len(users)
            for group, members in enumerate(self.members)
            for host, users in members.items()
            if host is not None
        }
        capacity = {
            host: 0 if host in over else self.index.capacity(host) - self.pinned.get(host, 0)
            for host in self.index.hosts()
        }
        target = min_cost_placement(groups, capacity, initial, keep_placed=True)
        moves: list[Move] = []
        for (access_point, _), group in self.keys.items():
            moves.extend(self._group_moves(access_point, group, initial, target))
        return sorted(moves, key=lambda move: move.user)

    def _group_moves(
        self,
        access_point: AccessPointId,
        group: int,
        initial: dict[tuple[int, HostName], int],
        target: dict[tuple[int, HostName], int],
    ) -> list[Move]:
        members, costs = self.members[group], self.costs[group]
        hosts = sorted({h for h in members if h is not None} | {h for g, h in target if g == group})
        leaving: list[tuple[UserId, HostName | None]] = []
        arriving: list[HostName] = []
        for host in hosts:
            now_units, want = initial.get((group, host), 0), target.get((group, host), 0)
            if now_units > want:
                leaving.extend((user, host) for user in members[host][: now_units - want])
            arriving.extend([host] * max(0, want - now_units))
        newly_placed = len(arriving) - len(leaving)
        leaving.extend((user, None) for user in members.get(None, [])[:newly_placed])
        return [
            Move(
                user,
                access_point,
                from_host,
                to_host,
                None if from_host is None else costs[from_host],
                costs[to_host],
            )
            for (user, from_host), to_host in zip(leaving, arriving, strict=True)
        ]
