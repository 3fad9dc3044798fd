"""HeadroomPolicy: its rules on examples, its promises as properties, and through the engine."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.mobility import (
    AlwaysNearest,
    HeadroomPolicy,
    MobilitySituation,
    MoveReason,
    ThresholdPolicy,
)
from mec_orchestrator.decisions.mobility.policies import forced_verdict
from mec_orchestrator.decisions.users import PlacementEngine, PlacementRules
from tests.decisions.users.shared_settings import thorough

POLICY = HeadroomPolicy(guard_ms=1.0, min_gain_ms=0.5)


def situation(
    current: str | None = "a",
    current_ms: float | None = 9.5,
    best: str | None = "b",
    best_ms: float | None = 5.0,
    *,
    budget_ms: float | None = 10.0,
    dwell_s: float = 100.0,
    allowed: bool = True,
) -> MobilitySituation:
    return MobilitySituation(current, allowed, current_ms, best, best_ms, budget_ms, dwell_s)


@pytest.mark.parametrize(
    ("case", "move", "reason"),
    [
        (situation(current_ms=11.0), True, MoveReason.BUDGET_BREACH),
        # A breach the best host cannot fix either: still moves for a real gain.
        (situation(current_ms=14.0, best_ms=12.0), True, MoveReason.BUDGET_BREACH),
        (situation(current_ms=11.0, best_ms=10.6), False, MoveReason.WITHIN_HYSTERESIS),
        (situation(current_ms=9.5), True, MoveReason.NEAR_BUDGET),
        # In the guard band, but the best host would be in it too: not worth a move.
        (situation(current_ms=9.8, best_ms=9.2), False, MoveReason.HEADROOM_LEFT),
        (situation(current_ms=8.9, best_ms=1.0), False, MoveReason.HEADROOM_LEFT),
        (situation(current_ms=8.9, best_ms=1.0, dwell_s=0.0), False, MoveReason.HEADROOM_LEFT),
        (situation(current_ms=None), True, MoveReason.CURRENT_UNMEASURED),
        (situation(current=None, current_ms=None), True, MoveReason.NO_CURRENT_HOST),
        (situation(allowed=False, current_ms=1.0), True, MoveReason.CURRENT_NOT_ALLOWED),
        (situation(best="a", best_ms=9.5), False, MoveReason.ALREADY_BEST),
    ],
)
def test_rules(case: MobilitySituation, move: bool, reason: MoveReason) -> None:
    verdict = POLICY.decide(case)
    assert (verdict.move, verdict.reason) == (move, reason)
    assert verdict.target == (case.best_host if move else case.current_host)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf")])
def test_bad_parameters_are_named(value: float) -> None:
    with pytest.raises(ValueError, match="guard_ms"):
        HeadroomPolicy(guard_ms=value)
    with pytest.raises(ValueError, match="min_gain_ms"):
        HeadroomPolicy(min_gain_ms=value)


def test_name_says_the_parameters() -> None:
    assert POLICY.name == "headroom(guard=1ms,gain=0.5ms)"


latency = st.floats(min_value=0.0, max_value=50.0, allow_nan=False)
maybe_latency = st.none() | latency
hosts = st.sampled_from(["a", "b", "c"])
situations = st.builds(
    MobilitySituation,
    current_host=st.none() | hosts,
    current_allowed=st.booleans(),
    current_latency_ms=maybe_latency,
    best_host=st.none() | hosts,
    best_latency_ms=maybe_latency,
    budget_ms=st.none() | latency,
    dwell_s=st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
)
policies = st.builds(
    HeadroomPolicy,
    guard_ms=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
    min_gain_ms=st.floats(min_value=0.0, max_value=10.0, allow_nan=False),
)


@thorough(400)
@given(situations, policies)
def test_hard_constraints_and_targets(case: MobilitySituation, policy: HeadroomPolicy) -> None:
    """Forced verdicts are every policy's; a target is always the current or best host."""
    verdict = policy.decide(case)
    forced = forced_verdict(case)
    if forced is not None:
        assert verdict == forced
    assert verdict.target == (case.best_host if verdict.move else case.current_host)


@thorough(400)
@given(situations, policies)
def test_every_chosen_move_gains_more_than_min_gain(
    case: MobilitySituation, policy: HeadroomPolicy
) -> None:
    """So a user at one access point cannot be moved back and forth by small differences."""
    verdict = policy.decide(case)
    if not verdict.move or forced_verdict(case) is not None or case.budget_ms is None:
        return
    if case.current_latency_ms is None:
        assert verdict.reason is MoveReason.CURRENT_UNMEASURED
        return
    assert case.best_latency_ms is not None
    assert case.current_latency_ms - case.best_latency_ms > policy.min_gain_ms


@thorough(400)
@given(situations, policies)
def test_never_moves_a_user_with_headroom(case: MobilitySituation, policy: HeadroomPolicy) -> None:
    """Within the budget by at least the guard, only a hard constraint moves a user."""
    current, budget = case.current_latency_ms, case.budget_ms
    if forced_verdict(case) is not None or current is None or budget is None:
        return
    if current <= budget - policy.guard_ms:
        assert not policy.decide(case).move


@thorough(400)
@given(situations, policies)
def test_a_fixable_breach_is_fixed(case: MobilitySituation, policy: HeadroomPolicy) -> None:
    current, best, budget = case.current_latency_ms, case.best_latency_ms, case.budget_ms
    if forced_verdict(case) is not None or None in (current, best, budget):
        return
    assert current is not None
    assert best is not None
    assert budget is not None
    if current > budget >= best and current - best > policy.min_gain_ms:
        verdict = policy.decide(case)
        assert verdict.move
        assert verdict.reason is MoveReason.BUDGET_BREACH


@thorough(400)
@given(situations, policies, latency)
def test_a_worse_current_host_never_turns_a_move_into_a_stay(
    case: MobilitySituation, policy: HeadroomPolicy, extra_ms: float
) -> None:
    if case.current_latency_ms is None or case.budget_ms is None:
        return
    worse = MobilitySituation(
        case.current_host,
        case.current_allowed,
        case.current_latency_ms + extra_ms,
        case.best_host,
        case.best_latency_ms,
        case.budget_ms,
        case.dwell_s,
    )
    if policy.decide(case).move:
        assert policy.decide(worse).move


@thorough(400)
@given(situations, policies)
def test_moves_are_a_subset_of_always_nearest(
    case: MobilitySituation, policy: HeadroomPolicy
) -> None:
    if policy.decide(case).move:
        assert AlwaysNearest().decide(case).move


@thorough(200)
@given(situations.filter(lambda s: s.budget_ms is None))
def test_without_a_budget_it_is_the_threshold_policy(case: MobilitySituation) -> None:
    threshold = ThresholdPolicy(hysteresis_ms=3.0, min_dwell_s=5.0)
    assert HeadroomPolicy(1.0, 0.5, threshold).decide(case) == threshold.decide(case)


def test_through_the_engine_a_user_moves_only_when_the_budget_needs_it() -> None:
    """The real engine: a user walks away from host a; it stays until a's latency nears 10 ms."""
    engine = PlacementEngine(LatencySettings(stale_after_s=1e9))
    for host in ("a", "b"):
        engine.add_host(host, 10)
    # access points ap0..ap4: a gets worse, b better, as the user walks from a towards b.
    for step, b_ms in enumerate((8.0, 3.5, 3.0, 2.5, 2.0)):
        engine.record_latency(f"ap{step}", "a", 2.0 + 2.0 * step, 0.0)
        engine.record_latency(f"ap{step}", "b", b_ms, 0.0)
    rules = PlacementRules(latency_budget_ms=9.0)
    policy = HeadroomPolicy(guard_ms=1.5, min_gain_ms=0.5)
    assert engine.place("u", "ap0", rules, 0.0).host == "a"
    hosts = []
    for step in range(1, 5):
        result = engine.update_user("u", f"ap{step}", rules, float(step), policy)
        hosts.append((result.decision.host, result.verdict.reason))
    assert hosts == [
        ("a", MoveReason.WITHIN_HYSTERESIS),  # a 4 ms, b 3.5 ms: gains only 0.5 ms
        ("a", MoveReason.HEADROOM_LEFT),  # a 6 ms, b 3 ms: 1.5 ms below the guard band
        ("b", MoveReason.NEAR_BUDGET),  # a 8 ms (the guard band starts at 7.5), b 2.5 ms
        ("b", MoveReason.ALREADY_BEST),  # a 10 ms, b 2 ms
    ]
