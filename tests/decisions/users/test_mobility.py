"""Mobility policies: each rule on its own, and no ping-pong under oscillating measurements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.latency import LatencySettings
from mec_orchestrator.decisions.mobility import (
    AlwaysNearest,
    MobilityPolicy,
    MobilitySituation,
    MoveReason,
    NeverMigrate,
    ThresholdPolicy,
)
from mec_orchestrator.decisions.users import PlacementEngine, PlacementRules
from tests.decisions.users.shared_settings import thorough


def situation(
    current: str | None = "a",
    current_ms: float | None = 10.0,
    best: str | None = "b",
    best_ms: float | None = 5.0,
    *,
    budget_ms: float | None = None,
    dwell_s: float = 100.0,
    allowed: bool = True,
) -> MobilitySituation:
    return MobilitySituation(current, allowed, current_ms, best, best_ms, budget_ms, dwell_s)


THRESHOLD = ThresholdPolicy(hysteresis_ms=2.0, min_dwell_s=30.0)


@pytest.mark.parametrize(
    ("case", "move", "target", "reason"),
    [
        (situation(), True, "b", MoveReason.GAIN_ABOVE_HYSTERESIS),
        (situation(best_ms=8.0), False, "a", MoveReason.WITHIN_HYSTERESIS),
        (situation(best_ms=7.99), True, "b", MoveReason.GAIN_ABOVE_HYSTERESIS),
        (situation(dwell_s=29.0), False, "a", MoveReason.DWELL_NOT_REACHED),
        (situation(dwell_s=1.0, budget_ms=9.0), True, "b", MoveReason.BUDGET_BREACH),
        (situation(dwell_s=1.0, budget_ms=10.0), False, "a", MoveReason.DWELL_NOT_REACHED),
        (situation(best_ms=9.0, budget_ms=9.5), False, "a", MoveReason.WITHIN_HYSTERESIS),
        (situation(current=None, current_ms=None), True, "b", MoveReason.NO_CURRENT_HOST),
        (situation(current_ms=None, dwell_s=0.0), True, "b", MoveReason.CURRENT_UNMEASURED),
        (situation(best="a", best_ms=10.0), False, "a", MoveReason.ALREADY_BEST),
        (situation(best=None, best_ms=None), False, "a", MoveReason.NO_ALTERNATIVE),
        (
            situation(allowed=False, dwell_s=0.0, best_ms=9.9),
            True,
            "b",
            MoveReason.CURRENT_NOT_ALLOWED,
        ),
        (
            situation(allowed=False, best=None, best_ms=None),
            True,
            None,
            MoveReason.CURRENT_NOT_ALLOWED,
        ),
    ],
)
def test_threshold_policy_rules(
    case: MobilitySituation, move: bool, target: str | None, reason: MoveReason
) -> None:
    verdict = THRESHOLD.decide(case)
    assert (verdict.move, verdict.target, verdict.reason) == (move, target, reason)


def test_never_migrate_moves_only_when_forced() -> None:
    policy = NeverMigrate()
    assert not policy.decide(situation(budget_ms=1.0)).move
    assert policy.decide(situation(budget_ms=1.0)).reason is MoveReason.NEVER_MIGRATES
    assert policy.decide(situation(current=None, current_ms=None)).move
    assert policy.decide(situation(allowed=False)).move


def test_always_nearest_follows_any_gain() -> None:
    policy = AlwaysNearest()
    verdict = policy.decide(situation(best_ms=9.99, dwell_s=0.0))
    assert (verdict.move, verdict.target, verdict.reason) == (True, "b", MoveReason.NEAREST)
    assert not policy.decide(situation(best="a", best_ms=10.0)).move


def test_policy_settings_are_validated_and_named() -> None:
    with pytest.raises(ValueError, match="hysteresis_ms"):
        ThresholdPolicy(hysteresis_ms=-1.0)
    assert THRESHOLD.name == "threshold(h=2ms,dwell=30s)"
    assert {NeverMigrate().name, AlwaysNearest().name} == {"never-migrate", "always-nearest"}


def run_trace(
    policy: MobilityPolicy,
    base_ms: list[float],
    offsets: list[list[float]],
    budget_ms: float | None,
    step_s: float,
    *,
    ewma_alpha: float = 1.0,
) -> list[str | None]:
    """One user at one access point; every host's latency re-measured each step."""
    engine = PlacementEngine(LatencySettings(ewma_alpha=ewma_alpha, stale_after_s=1e9))
    hosts = [f"h{i}" for i in range(len(base_ms))]
    for host in hosts:
        engine.add_host(host, 10)
    visited: list[str | None] = []
    for step, row in enumerate(offsets):
        now = step * step_s
        for host, base, offset in zip(hosts, base_ms, row, strict=False):
            engine.record_latency("cell", host, base + offset, now)
        result = engine.update_user("u", "cell", PlacementRules(budget_ms), now, policy)
        visited.append(result.decision.host)
    return visited


def hosts_left_and_returned_to(visited: list[str | None]) -> bool:
    seen: list[str | None] = []
    for host in visited:
        if seen and seen[-1] == host:
            continue
        if host in seen:
            return True
        seen.append(host)
    return False


@st.composite
def oscillations(draw: st.DrawFn) -> tuple[float, list[float], list[list[float]]]:
    hysteresis = draw(st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    hosts = draw(st.integers(min_value=2, max_value=4))
    base = [float(draw(st.integers(min_value=1, max_value=6))) for _ in range(hosts)]
    # Each host's measurements wander within a band narrower than the hysteresis, often
    # jumping between the band's edges (the hardest case).
    top = hysteresis * 0.999
    wander = st.one_of(
        st.just(0.0), st.just(top), st.floats(min_value=0.0, max_value=top, allow_nan=False)
    )
    steps = draw(st.integers(min_value=2, max_value=40))
    offsets = [[draw(wander) for _ in range(hosts)] for _ in range(steps)]
    return hysteresis, base, offsets


@thorough(400)
@given(
    oscillations(),
    st.one_of(st.none(), st.integers(min_value=2, max_value=20).map(lambda v: v / 2)),
    st.sampled_from([0.0, 1.0, 10.0]),
    st.sampled_from([0.5, 5.0, 60.0]),
    st.sampled_from([1.0, 0.5]),
)
def test_no_ping_pong_when_measurements_oscillate_within_the_hysteresis(
    case: tuple[float, list[float], list[list[float]]],
    budget_ms: float | None,
    min_dwell_s: float,
    step_s: float,
    ewma_alpha: float,
) -> None:
    hysteresis, base, offsets = case
    policy = ThresholdPolicy(hysteresis, min_dwell_s)
    visited = run_trace(policy, base, offsets, budget_ms, step_s, ewma_alpha=ewma_alpha)
    assert None not in visited
    assert not hosts_left_and_returned_to(visited)


def test_the_same_oscillation_makes_always_nearest_ping_pong() -> None:
    # Two hosts in anti-phase, wandering by 0.8 ms: within a 1 ms hysteresis.
    offsets = [[0.0, 0.8], [0.8, 0.0]] * 5
    always = run_trace(AlwaysNearest(), [5.0, 5.0], offsets, None, 10.0)
    threshold = run_trace(ThresholdPolicy(1.0, 0.0), [5.0, 5.0], offsets, None, 10.0)
    assert hosts_left_and_returned_to(always)
    assert not hosts_left_and_returned_to(threshold)
    assert len(set(threshold)) == 1


def test_dwell_delays_a_comfort_move_but_not_a_breach_move() -> None:
    engine = PlacementEngine(LatencySettings(ewma_alpha=1.0))
    engine.add_host("old", 5)
    engine.add_host("new", 5)
    engine.record_latency("cell-1", "old", 1.0, 0.0)
    engine.record_latency("cell-2", "old", 9.0, 0.0)
    engine.record_latency("cell-2", "new", 2.0, 0.0)
    policy = ThresholdPolicy(hysteresis_ms=2.0, min_dwell_s=30.0)
    comfort = PlacementRules(latency_budget_ms=20.0)
    assert engine.update_user("u", "cell-1", comfort, 0.0, policy).decision.host == "old"
    early = engine.update_user("u", "cell-2", comfort, 10.0, policy)
    assert (early.moved, early.verdict.reason) == (False, MoveReason.DWELL_NOT_REACHED)
    assert early.decision.latency_ms == 9.0
    later = engine.update_user("u", "cell-2", comfort, 30.0, policy)
    assert (later.moved, later.previous_host, later.decision.host) == (True, "old", "new")
    strict = PlacementRules(latency_budget_ms=5.0)
    assert engine.update_user("v", "cell-1", strict, 0.0, policy).decision.host == "old"
    breach = engine.update_user("v", "cell-2", strict, 1.0, policy)
    assert (breach.moved, breach.verdict.reason) == (True, MoveReason.BUDGET_BREACH)
    assert breach.decision.within_budget
