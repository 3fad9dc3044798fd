"""Placement engine: constraints, optimality, budget reporting, staleness, determinism."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.reference_scan import scan_best_host
from mec_orchestrator.decisions.latency import LatencyMetric, LatencySettings
from mec_orchestrator.decisions.mobility import (
    AlwaysNearest,
    MobilityPolicy,
    MoveReason,
    NeverMigrate,
    ThresholdPolicy,
)
from mec_orchestrator.decisions.users import PlacementEngine, PlacementOutcome, PlacementRules
from tests.decisions.users.builders import engine_with
from tests.decisions.users.shared_settings import thorough

HOSTS = [f"edge-{c}" for c in "abcdef"]
ACCESS_POINTS = [f"cell-{i}" for i in range(5)]


def test_nearest_host_with_room_is_chosen_and_a_breach_is_reported_not_hidden() -> None:
    engine = engine_with(
        {("cell-1", "edge-a"): 3.0, ("cell-1", "edge-b"): 12.0}, {"edge-a": 1, "edge-b": 5}
    )
    rules = PlacementRules(latency_budget_ms=10.0)
    first = engine.place("u1", "cell-1", rules, 1.0)
    assert (first.host, first.latency_ms, first.outcome) == ("edge-a", 3.0, "WithinBudget")
    assert first.within_budget
    second = engine.place("u2", "cell-1", rules, 1.0)
    assert (second.host, second.latency_ms) == ("edge-b", 12.0)
    assert second.outcome is PlacementOutcome.OVER_BUDGET
    assert not second.within_budget
    assert second.placed
    engine.add_host("edge-c", 0)
    engine.record_latency("cell-1", "edge-c", 1.0, 1.0)
    third = engine.place("u3", "cell-1", PlacementRules(10.0, frozenset({"edge-a", "edge-c"})), 1.0)
    assert third.outcome is PlacementOutcome.NO_FEASIBLE_HOST
    assert third.host is None
    assert engine.host_of("u3") is None
    with pytest.raises(ValueError, match="already placed"):
        engine.place("u1", "cell-1", rules, 2.0)


def test_stale_pairs_are_not_trusted_and_are_reported() -> None:
    engine = PlacementEngine(LatencySettings(ewma_alpha=1.0, stale_after_s=10.0))
    engine.add_host("near", 10)
    engine.add_host("far", 10)
    engine.record_latency("cell", "near", 1.0, 0.0)
    engine.record_latency("cell", "far", 9.0, 0.0)
    engine.record_latency("cell", "far", 9.0, 8.0)
    assert engine.choose("cell", PlacementRules(), 5.0).host == "near"
    decision = engine.choose("cell", PlacementRules(), 12.0)
    assert decision.host == "far"
    assert [(p.access_point, p.host, p.age_s) for p in engine.stale_pairs(12.0)] == [
        ("cell", "near", 12.0)
    ]
    engine.record_latency("cell", "near", 1.5, 13.0)
    assert engine.choose("cell", PlacementRules(), 13.0).host == "near"


def test_a_host_added_after_its_measurements_is_ranked_at_once() -> None:
    engine = PlacementEngine()
    engine.record_latency("cell", "late", 2.0, 0.0)
    assert engine.choose("cell", PlacementRules(), 0.0).host is None
    engine.add_host("late", 1)
    assert engine.choose("cell", PlacementRules(), 0.0).host == "late"


def test_a_removed_host_gives_back_its_users() -> None:
    engine = engine_with({("c", "a"): 1.0, ("c", "b"): 2.0}, {"a": 2, "b": 2})
    engine.place("u1", "c", PlacementRules(), 0.0)
    assert engine.remove_host("a") == ["u1"]
    assert engine.host_of("u1") is None
    assert engine.place("u1", "c", PlacementRules(), 1.0).host == "b"


@dataclass(frozen=True)
class Scenario:
    capacity: dict[str, int]
    latency: dict[tuple[str, str], float]
    arrivals: list[tuple[str, str, PlacementRules, int]]  # user, access point, rules, policy


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=6, unique=True))
    capacity = {h: draw(st.integers(min_value=0, max_value=4)) for h in hosts}
    latency = {
        (ap, h): draw(st.integers(min_value=1, max_value=30).map(float))
        for ap in ACCESS_POINTS
        for h in hosts
        if draw(st.booleans())
    }
    rules = st.builds(
        PlacementRules,
        st.one_of(st.none(), st.integers(min_value=1, max_value=30).map(float)),
        st.one_of(st.none(), st.frozensets(st.sampled_from(HOSTS), min_size=1)),
    )
    arrivals = draw(
        st.lists(
            st.tuples(
                st.sampled_from([f"u{i}" for i in range(8)]),
                st.sampled_from(ACCESS_POINTS),
                rules,
                st.integers(min_value=0, max_value=2),
            ),
            max_size=30,
        )
    )
    return Scenario(capacity, latency, arrivals)


POLICIES: list[MobilityPolicy] = [NeverMigrate(), AlwaysNearest(), ThresholdPolicy(2.0, 5.0)]


def replay(scenario: Scenario) -> list[tuple[object, ...]]:
    """Run a scenario, checking the invariants after every step; returns what happened."""
    engine = engine_with(scenario.latency, scenario.capacity)
    rules_of: dict[str, PlacementRules] = {}
    trace: list[tuple[object, ...]] = []
    for step, (user, ap, rules, policy) in enumerate(scenario.arrivals):
        load = {h: engine.index.load(h) for h in scenario.capacity}
        optimum = scan_best_host(
            {a: {h: v for (x, h), v in scenario.latency.items() if x == a} for a in ACCESS_POINTS},
            scenario.capacity,
            load,
            ap,
            allowed=rules.allowed_hosts,
            holding=engine.host_of(user),
        )
        before = engine.host_of(user)
        result = engine.update_user(user, ap, rules, float(step), POLICIES[policy])
        rules_of[user] = rules
        decision = result.decision
        if optimum is not None and (before is None or policy == 1):
            # A new user, or always-nearest: the optimum, whenever one exists.
            assert (decision.latency_ms, decision.host) == optimum
            if rules.latency_budget_ms is not None:
                assert decision.within_budget == (optimum[0] <= rules.latency_budget_ms)
        if optimum is None:
            # Nowhere feasible: stay if allowed to, else end up unplaced (and say so).
            stays = before is not None and rules.allows(before)
            assert decision.host == (before if stays else None)
        if decision.host is None:
            assert decision.outcome is PlacementOutcome.NO_FEASIBLE_HOST
        for host, slots in scenario.capacity.items():
            assert engine.index.load(host) <= slots
        for placed_user, host in engine.index.placements().items():
            assert rules_of[placed_user].allows(host)
        trace.append((user, decision, result.verdict))
    return trace


@thorough(300)
@given(scenarios())
def test_never_over_capacity_never_outside_the_allow_list_optimum_when_feasible(
    scenario: Scenario,
) -> None:
    replay(scenario)


@thorough(100)
@given(scenarios())
def test_the_same_input_gives_the_same_decisions(scenario: Scenario) -> None:
    assert replay(scenario) == replay(scenario)


def test_a_user_whose_host_went_unmeasured_moves_to_a_measured_one() -> None:
    engine = PlacementEngine(LatencySettings(ewma_alpha=1.0, stale_after_s=10.0))
    engine.add_host("a", 5)
    engine.add_host("b", 5)
    engine.record_latency("cell", "a", 1.0, 0.0)
    engine.record_latency("cell", "b", 4.0, 0.0)
    policy = ThresholdPolicy(hysteresis_ms=5.0, min_dwell_s=60.0)
    assert engine.update_user("u", "cell", PlacementRules(), 0.0, policy).decision.host == "a"
    engine.record_latency("cell", "b", 4.0, 15.0)  # only b's agent still reports
    result = engine.update_user("u", "cell", PlacementRules(), 15.0, policy)
    assert (result.verdict.reason, result.decision.host) == (MoveReason.CURRENT_UNMEASURED, "b")
    stuck = engine.update_user("v", "cell", PlacementRules(), 15.0, NeverMigrate())
    assert stuck.decision.host == "b"


def test_a_disallowed_host_is_left_even_with_nowhere_to_go() -> None:
    engine = engine_with({("c", "a"): 1.0}, {"a": 5})
    engine.place("u", "c", PlacementRules(), 0.0)
    result = engine.update_user(
        "u", "c", PlacementRules(None, frozenset({"z"})), 1.0, NeverMigrate()
    )
    assert result.verdict.reason is MoveReason.CURRENT_NOT_ALLOWED
    assert result.decision.outcome is PlacementOutcome.NO_FEASIBLE_HOST
    assert engine.host_of("u") is None
    assert engine.index.load("a") == 0


def test_the_ranking_metric_can_be_the_windowed_p95() -> None:
    engine = PlacementEngine(LatencySettings(window_size=20), metric=LatencyMetric.P95)
    engine.add_host("steady", 5)
    engine.add_host("spiky", 5)
    for t in range(20):
        engine.record_latency("cell", "steady", 5.0, float(t))
        engine.record_latency("cell", "spiky", 50.0 if t % 10 == 0 else 1.0, float(t))
    assert engine.choose("cell", PlacementRules(), 20.0).host == "steady"
    estimate = engine.latency("cell", "spiky", 20.0)
    assert estimate is not None
    assert (estimate.p50_ms, estimate.p95_ms) == (1.0, 50.0)
    assert PlacementEngine().choose("cell", PlacementRules(), 0.0).host is None


def test_rebalance_moves_the_user_that_gains_most_and_reports_each_move() -> None:
    engine = engine_with(
        {("x", "a"): 1.0, ("x", "b"): 2.0, ("y", "a"): 1.0, ("y", "b"): 30.0},
        {"a": 1, "b": 1},
    )
    engine.place("first", "x", PlacementRules(), 0.0)  # takes a: y's user will pay 30 ms
    engine.place("second", "y", PlacementRules(), 0.0)
    assert engine.total_latency_ms() == 31.0
    moves = engine.rebalance(1.0)
    assert [
        (m.user, m.from_host, m.to_host, m.from_latency_ms, m.to_latency_ms) for m in moves
    ] == [
        ("first", "a", "b", 1.0, 2.0),
        ("second", "b", "a", 30.0, 1.0),
    ]
    assert engine.total_latency_ms() == 3.0
    assert (engine.host_of("first"), engine.host_of("second")) == ("b", "a")


def test_a_waiting_user_is_placed_by_a_rebalance_that_makes_room() -> None:
    engine = engine_with({("x", "a"): 1.0, ("x", "b"): 2.0, ("y", "a"): 1.0}, {"a": 1, "b": 1})
    assert engine.place("first", "x", PlacementRules(), 0.0).host == "a"
    assert engine.place("second", "y", PlacementRules(), 0.0).host is None
    assert engine.waiting_users() == ["second"]
    moves = engine.rebalance(1.0)
    assert [(m.user, m.from_host, m.to_host, m.from_latency_ms) for m in moves] == [
        ("first", "a", "b", 1.0),
        ("second", None, "a", None),
    ]
    assert engine.waiting_users() == []
    assert (engine.host_of("first"), engine.host_of("second")) == ("b", "a")
    engine.release("second")
    assert engine.index.load("a") == 0
