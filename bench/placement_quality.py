"""Placement quality against the exact optimum, on instances small enough for an ILP.

Latencies are the exact RTTs of the topology (no measurement jitter), so that the 1 ms floor is
a true floor and the gap can also be given on the part of the latency placement can change.
Users arrive one by one and the engine puts each on its nearest host with room (greedy); then
the engine's rebalance (min-cost repair) runs. Both totals are compared with the optimum of the
ILP "minimise total latency subject to capacities, everyone placed", solved by scipy's MILP
(HiGHS). Users attached to the same access point are interchangeable, so the ILP has one
integer variable per (access point, host) pair: the same optimum as one binary per (user, host).
Greedy can also leave users without a host while a complete assignment exists (their nearby
hosts are full); the repair places them, and a total is only compared with the optimum when
everyone is placed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from bench.placement_topology import FLOOR_MS, Topology
from bench.placement_workload import build_engine
from mec_orchestrator.decisions.users import PlacementEngine, PlacementRules


@dataclass(frozen=True)
class QualityResult:
    instance: str
    access_points: int
    hosts: int
    users: int
    slots: int
    greedy_placed: int
    repaired_placed: int
    greedy_ms: float
    repaired_ms: float
    optimum_ms: float
    moves: int
    repair_s: float
    ilp_s: float

    def gap_percent(self, total: float, placed: int) -> float | None:
        """Above the optimum, in %; None when not everyone was placed (not comparable)."""
        if placed < self.users:
            return None
        return 100.0 * (total - self.optimum_ms) / self.optimum_ms

    def gap_above_floor_percent(self, total: float, placed: int) -> float | None:
        """The same gap, on the part of latency placement can change (above the 1 ms floor)."""
        if placed < self.users:
            return None
        above = self.optimum_ms - FLOOR_MS * self.users
        return 100.0 * (total - self.optimum_ms) / above

    def as_dict(self) -> dict[str, object]:
        greedy, repaired = (
            (self.greedy_ms, self.greedy_placed),
            (
                self.repaired_ms,
                self.repaired_placed,
            ),
        )
        return {
            **self.__dict__,
            "greedy_gap_percent": self.gap_percent(*greedy),
            "repaired_gap_percent": self.gap_percent(*repaired),
            "greedy_gap_above_floor_percent": self.gap_above_floor_percent(*greedy),
            "repaired_gap_above_floor_percent": self.gap_above_floor_percent(*repaired),
        }


def ilp_optimum(engine: PlacementEngine, topology: Topology) -> tuple[float, float]:
    """(least total latency with everyone placed, seconds to solve), on the engine's latencies."""
    demand: dict[str, int] = {}
    for _, ap in topology.users:
        demand[ap] = demand.get(ap, 0) + 1
    hosts = engine.index.hosts()
    column = {host: i for i, host in enumerate(hosts)}
    edges = [
        (ap, host, value)
        for ap in sorted(demand)
        for host, value in sorted(engine.index.latency_row(ap).items())
    ]
    aps = sorted(demand)
    row = {ap: i for i, ap in enumerate(aps)}
    ap_matrix = np.zeros((len(aps), len(edges)))
    host_matrix = np.zeros((len(hosts), len(edges)))
    for j, (ap, host, _) in enumerate(edges):
        ap_matrix[row[ap], j] = 1.0
        host_matrix[column[host], j] = 1.0
    needs = np.array([demand[ap] for ap in aps], dtype=np.float64)
    slots = np.array([engine.index.capacity(h) for h in hosts], dtype=np.float64)
    started = time.perf_counter()
    solved = milp(
        np.array([value for _, _, value in edges]),
        constraints=[
            LinearConstraint(ap_matrix, needs, needs),
            LinearConstraint(host_matrix, 0, slots),
        ],
        integrality=np.ones(len(edges)),
        bounds=Bounds(0, np.inf),
    )
    elapsed = time.perf_counter() - started
    if not solved.success:
        raise RuntimeError(f"ILP not solved: {solved.message}")
    return float(solved.fun), elapsed


def measure_quality(instance: str, topology: Topology, seed: int) -> QualityResult:
    engine, _, _ = build_engine(topology, seed, jitter=0.0)
    arrivals = list(topology.users)
    random.Random(seed).shuffle(arrivals)  # noqa: S311 (a reproducible simulation)
    for user, ap in arrivals:
        engine.place(user, ap, PlacementRules(), 5.0)
    greedy_placed = engine.user_count()
    greedy = engine.total_latency_ms()
    started = time.perf_counter()
    moves = engine.rebalance(6.0)
    repair_s = time.perf_counter() - started
    repaired = engine.total_latency_ms()
    optimum, ilp_s = ilp_optimum(engine, topology)
    return QualityResult(
        instance=instance,
        access_points=len(topology.access_points),
        hosts=len(topology.capacity),
        users=len(topology.users),
        slots=sum(topology.capacity.values()),
        greedy_placed=greedy_placed,
        repaired_placed=engine.user_count(),
        greedy_ms=greedy,
        repaired_ms=repaired,
        optimum_ms=optimum,
        moves=len(moves),
        repair_s=repair_s,
        ilp_s=ilp_s,
    )
