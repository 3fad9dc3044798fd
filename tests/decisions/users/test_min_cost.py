"""Min-cost placement and rebalancing: equal to an exact ILP optimum on random instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp  # type: ignore[import-untyped]

from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.users import (
    DemandGroup,
    PlacementEngine,
    PlacementRules,
    min_cost_placement,
    placement_cost,
)
from tests.decisions.users.shared_settings import thorough

Instance = tuple[list[DemandGroup], dict[str, int]]


def ilp_optimum(
    groups: list[DemandGroup], capacity: dict[str, int], at_least: list[int] | None = None
) -> tuple[int, float]:
    """(most users placeable, least total cost placing that many), by scipy's MILP solver.

    at_least: a lower bound on each group's placed users.
    """
    edges = [(g, h) for g, group in enumerate(groups) for h in sorted(group.costs) if h in capacity]
    if not edges:
        return 0, 0.0
    hosts = sorted(capacity)
    group_rows = np.zeros((len(groups), len(edges)))
    host_rows = np.zeros((len(hosts), len(edges)))
    for column, (g, h) in enumerate(edges):
        group_rows[g, column] = 1.0
        host_rows[hosts.index(h), column] = 1.0
    limits = [
        LinearConstraint(group_rows, at_least or 0, [group.size for group in groups]),
        LinearConstraint(host_rows, 0, [capacity[h] for h in hosts]),
    ]
    integral = np.ones(len(edges))
    bounds = Bounds(0, np.inf)
    most = milp(-np.ones(len(edges)), constraints=limits, integrality=integral, bounds=bounds)
    assert most.success
    placed = round(-most.fun)
    costs = np.array([groups[g].costs[h] for g, h in edges])
    everyone = LinearConstraint(np.ones((1, len(edges))), placed, placed)
    cheapest = milp(costs, constraints=[*limits, everyone], integrality=integral, bounds=bounds)
    assert cheapest.success
    return placed, float(cheapest.fun)


@st.composite
def instances(draw: st.DrawFn) -> Instance:
    hosts = [f"h{i}" for i in range(draw(st.integers(min_value=1, max_value=5)))]
    capacity = {h: draw(st.integers(min_value=0, max_value=8)) for h in hosts}
    groups = [
        DemandGroup(
            draw(st.integers(min_value=0, max_value=10)),
            {
                h: draw(st.integers(min_value=1, max_value=40).map(lambda v: v / 4))
                for h in hosts
                if draw(st.integers(min_value=0, max_value=3)) > 0
            },
        )
        for _ in range(draw(st.integers(min_value=1, max_value=6)))
    ]
    return groups, capacity


def greedy(groups: list[DemandGroup], capacity: dict[str, int]) -> dict[tuple[int, str], int]:
    """One user at a time, each on its cheapest host with room (what the online engine does)."""
    load = dict.fromkeys(capacity, 0)
    flow: dict[tuple[int, str], int] = {}
    for g, group in enumerate(groups):
        for _ in range(group.size):
            free = [(c, h) for h, c in group.costs.items() if h in load and load[h] < capacity[h]]
            if free:
                _, host = min(free)
                load[host] += 1
                flow[g, host] = flow.get((g, host), 0) + 1
    return flow


def check_feasible(
    groups: list[DemandGroup], capacity: dict[str, int], flow: dict[tuple[int, str], int]
) -> int:
    for g, group in enumerate(groups):
        assert sum(u for (x, _), u in flow.items() if x == g) <= group.size
    for host, slots in capacity.items():
        assert sum(u for (_, h), u in flow.items() if h == host) <= slots
    assert all(units > 0 and host in groups[g].costs for (g, host), units in flow.items())
    return sum(flow.values())


@thorough(150)
@given(instances())
def test_min_cost_placement_matches_the_ilp_optimum_from_scratch(instance: Instance) -> None:
    groups, capacity = instance
    flow = min_cost_placement(groups, capacity)
    placed, cost = ilp_optimum(groups, capacity)
    assert check_feasible(groups, capacity, flow) == placed
    assert placement_cost(groups, flow) == pytest.approx(cost, abs=1e-6)


@thorough(150)
@given(instances())
def test_min_cost_placement_repairs_a_greedy_start_to_the_optimum(instance: Instance) -> None:
    groups, capacity = instance
    start = greedy(groups, capacity)
    flow = min_cost_placement(groups, capacity, start)
    placed, cost = ilp_optimum(groups, capacity)
    assert check_feasible(groups, capacity, flow) == placed
    assert placement_cost(groups, flow) == pytest.approx(cost, abs=1e-6)
    if sum(start.values()) == placed:
        assert placement_cost(groups, flow) <= placement_cost(groups, start) + 1e-9


@thorough(150)
@given(instances())
def test_keep_placed_never_unplaces_and_is_optimal_under_that_rule(instance: Instance) -> None:
    groups, capacity = instance
    start = greedy(groups, capacity)
    flow = min_cost_placement(groups, capacity, start, keep_placed=True)
    before = [sum(u for (g, _), u in start.items() if g == i) for i in range(len(groups))]
    after = [sum(u for (g, _), u in flow.items() if g == i) for i in range(len(groups))]
    assert all(a >= b for a, b in zip(after, before, strict=True))
    placed, cost = ilp_optimum(groups, capacity, at_least=before)
    assert check_feasible(groups, capacity, flow) == placed
    assert placement_cost(groups, flow) == pytest.approx(cost, abs=1e-6)


def test_greedy_can_be_beaten_and_the_repair_finds_the_better_assignment() -> None:
    # Group 0 arrives first and takes the only slot of "a", which group 1 needed far more.
    groups = [DemandGroup(1, {"a": 1.0, "b": 2.0}), DemandGroup(1, {"a": 1.0, "b": 50.0})]
    capacity = {"a": 1, "b": 1}
    start = greedy(groups, capacity)
    assert placement_cost(groups, start) == 51.0
    assert min_cost_placement(groups, capacity, start) == {(0, "b"): 1, (1, "a"): 1}


def test_an_infeasible_start_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        min_cost_placement([DemandGroup(2, {"a": 1.0})], {"a": 1}, {(0, "a"): 2})
    with pytest.raises(ValueError, match="unusable"):
        min_cost_placement([DemandGroup(1, {"a": 1.0})], {"a": 1, "b": 1}, {(0, "b"): 1})


@thorough(60)
@given(instances(), st.randoms(use_true_random=False))
def test_engine_rebalance_reaches_the_optimum_within_capacity(
    instance: Instance, rng: object
) -> None:
    groups, capacity = instance
    engine = PlacementEngine(LatencySettings(ewma_alpha=1.0))
    for host, slots in capacity.items():
        engine.add_host(host, slots)
    arrivals: list[tuple[str, str]] = []
    for g, group in enumerate(groups):
        for host, cost in group.costs.items():
            engine.record_latency(f"ap{g}", host, cost, 0.0)
        arrivals.extend((f"g{g}-u{i}", f"ap{g}") for i in range(group.size))
    rng.shuffle(arrivals)  # type: ignore[attr-defined]
    for user, ap in arrivals:
        engine.place(user, ap, PlacementRules(), 1.0)
    placed_before = engine.user_count()
    waiting_before = engine.waiting_users()
    assert placed_before + len(waiting_before) == len(arrivals)
    cost_before = engine.total_latency_ms()
    moves = engine.rebalance(2.0)
    for host, slots in capacity.items():
        assert engine.index.load(host) <= slots
    assert engine.total_latency_ms() == pytest.approx(
        cost_before + sum(m.to_latency_ms - (m.from_latency_ms or 0.0) for m in moves)
    )
    assert all(m.from_host != m.to_host for m in moves)
    assert {m.user for m in moves if m.from_host is None} <= set(waiting_before)
    # As many users placed as the ILP can place, and when that is everyone, at its optimum.
    placed, cost = ilp_optimum(groups, capacity)
    assert engine.user_count() == placed
    assert len(engine.waiting_users()) == len(arrivals) - placed
    if placed == len(arrivals):
        assert engine.total_latency_ms() == pytest.approx(cost, abs=1e-6)
    if placed == placed_before:
        assert engine.total_latency_ms() <= cost_before + 1e-9
    assert engine.plan_rebalance(3.0) == []
