"""Latency matrix: EWMA, windowed nearest-rank percentiles, staleness."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.latency import (
    LatencyMatrix,
    LatencyMetric,
    LatencySettings,
    PairLatency,
    StalePair,
    nearest_rank,
)

samples = st.lists(
    st.floats(min_value=0.0, max_value=1e4, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=200,
)


def test_ewma_starts_at_first_sample_then_moves_by_alpha() -> None:
    pair = PairLatency(ewma_alpha=0.5, window_size=8)
    pair.add(10.0, 0.0)
    assert pair.ewma_ms == 10.0
    pair.add(20.0, 1.0)
    assert pair.ewma_ms == 15.0
    pair.add(30.0, 2.0)
    assert pair.ewma_ms == 22.5


def test_percentiles_use_only_the_window_of_recent_samples() -> None:
    pair = PairLatency(ewma_alpha=0.2, window_size=5)
    for t, value in enumerate([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]):
        pair.add(value, float(t))
    assert pair.window() == [6.0, 7.0, 8.0, 9.0, 10.0]
    assert pair.percentile(50.0) == 8.0  # rank ceil(2.5) = 3
    assert pair.percentile(95.0) == 10.0  # rank ceil(4.75) = 5
    assert pair.value(LatencyMetric.P50) == 8.0
    assert pair.total == 11
    assert len(pair) == 5


def test_nearest_rank_examples() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert nearest_rank(values, 50.0) == 10.0
    assert nearest_rank(values, 95.0) == 19.0
    assert nearest_rank(values, 100.0) == 20.0
    assert nearest_rank([7.0], 1.0) == 7.0
    with pytest.raises(ValueError, match="no values"):
        nearest_rank([], 50.0)
    with pytest.raises(ValueError, match="percent"):
        nearest_rank(values, 0.0)


@given(samples, st.integers(min_value=1, max_value=40))
def test_window_and_percentiles_match_a_sort_of_the_last_samples(
    values: list[float], window: int
) -> None:
    pair = PairLatency(ewma_alpha=0.3, window_size=window)
    for t, value in enumerate(values):
        pair.add(value, float(t))
    recent = values[-window:]
    assert pair.window() == recent
    ordered = sorted(recent)
    for percent in (1.0, 50.0, 95.0, 100.0):
        rank = math.ceil(percent / 100.0 * len(ordered))
        assert pair.percentile(percent) == ordered[max(rank, 1) - 1]
    assert min(values) - 1e-9 <= pair.ewma_ms <= max(values) + 1e-9
    assert pair.last_sample_s == float(len(values) - 1)


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_a_bad_sample_is_refused(bad: float) -> None:
    matrix = LatencyMatrix()
    with pytest.raises(ValueError, match="RTT sample"):
        matrix.record("ap", "h", bad, 0.0)
    assert len(matrix) == 0
    assert matrix.stats("ap", "h") is None


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="ewma_alpha"):
        LatencySettings(ewma_alpha=0.0)
    with pytest.raises(ValueError, match="window_size"):
        LatencySettings(window_size=0)
    with pytest.raises(ValueError, match="stale_after_s"):
        LatencySettings(stale_after_s=0.0)


def test_estimate_reports_statistics_age_and_staleness() -> None:
    matrix = LatencyMatrix(LatencySettings(ewma_alpha=0.5, window_size=4, stale_after_s=10.0))
    for t, value in enumerate([4.0, 2.0, 8.0, 6.0]):
        matrix.record("ap1", "edge-a", value, 100.0 + t)
    fresh = matrix.estimate("ap1", "edge-a", now_s=105.0)
    assert fresh is not None
    assert fresh.ewma_ms == pytest.approx(5.75)  # 4 -> 3 -> 5.5 -> 5.75
    assert fresh.p50_ms == 4.0
    assert fresh.p95_ms == 8.0
    assert fresh.window_samples == 4
    assert fresh.last_sample_s == 103.0
    assert fresh.age_s == 2.0
    assert not fresh.stale
    old = matrix.estimate("ap1", "edge-a", now_s=113.5)
    assert old is not None
    assert old.stale
    assert matrix.estimate("ap1", "edge-b", now_s=0.0) is None


def test_expire_untrusts_silent_pairs_once_and_a_new_sample_restores_trust() -> None:
    matrix = LatencyMatrix(LatencySettings(stale_after_s=10.0))
    matrix.record("ap1", "edge-a", 5.0, 0.0)
    matrix.record("ap1", "edge-b", 5.0, 0.0)
    matrix.record("ap1", "edge-b", 5.0, 8.0)
    assert matrix.expire(10.0) == []  # age exactly the horizon: still fresh
    assert matrix.expire(10.5) == [("ap1", "edge-a")]
    assert not matrix.is_trusted("ap1", "edge-a")
    assert matrix.is_trusted("ap1", "edge-b")
    assert matrix.expire(11.0) == []  # reported once
    assert matrix.stale_pairs(11.0) == [StalePair("ap1", "edge-a", 0.0, 11.0)]
    assert matrix.expire(18.5) == [("ap1", "edge-b")]
    matrix.record("ap1", "edge-a", 6.0, 20.0)
    assert matrix.is_trusted("ap1", "edge-a")
    assert matrix.expire(25.0) == []
    assert matrix.expire(30.5) == [("ap1", "edge-a")]


def test_forget_host_drops_its_pairs() -> None:
    matrix = LatencyMatrix()
    matrix.record("ap1", "edge-a", 1.0, 0.0)
    matrix.record("ap2", "edge-a", 1.0, 0.0)
    matrix.record("ap1", "edge-b", 1.0, 0.0)
    assert matrix.access_points_of("edge-a") == ["ap1", "ap2"]
    matrix.forget_host("edge-a")
    assert sorted(matrix.pairs()) == [("ap1", "edge-b")]
    assert matrix.expire(1e6) == [("ap1", "edge-b")]
