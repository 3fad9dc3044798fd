"""The policy benchmark counts what it says: migrations, device-time within the budget, the
instances' up time; and its quick run on the tiny shipped trace gives coherent figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.policies import HOSTS, TODAY, evaluate, markdown, operator_cost, quick_plan
from bench.policies_replay import INTERRUPTION_MS, build_world, instance_seconds, replay
from mec_devtools.sim.traces import TraceSet
from mec_orchestrator.decisions.mobility import AlwaysNearest, HeadroomPolicy, NeverMigrate


def test_an_instance_is_up_from_its_first_user_until_idle_after_its_last() -> None:
    assert instance_seconds([], 100.0, 30.0) == 0.0
    assert instance_seconds([(10.0, 1)], 100.0, 30.0) == 90.0
    assert instance_seconds([(10.0, 1), (20.0, -1)], 100.0, 30.0) == 40.0
    # Back within the idle time: one stretch; after it: two.
    assert instance_seconds([(10.0, 1), (20.0, -1), (40.0, 1)], 100.0, 30.0) == 90.0
    assert instance_seconds([(10.0, 1), (20.0, -1), (60.0, 1), (70.0, -1)], 100.0, 30.0) == 80.0
    assert instance_seconds([(10.0, 1), (90.0, -1)], 100.0, 30.0) == 90.0  # cut at the end
    with pytest.raises(ValueError, match="more users left"):
        instance_seconds([(1.0, -1)], 10.0, 1.0)


def one_walker(world_sites: list[str], cells: list[str]) -> TraceSet:
    """One device whose serving cell goes through cells, one per 100 s."""
    index = {site: i for i, site in enumerate(world_sites)}
    column = np.repeat([index[c] for c in cells], 100).astype(np.int16)[:, None]
    zeros = np.zeros(column.shape)
    return TraceSet("walker", 1.0, tuple(world_sites), np.zeros(1, np.uint8), zeros, zeros, column)


def test_one_device_walking_from_one_host_to_another() -> None:
    world = build_world(HOSTS, 1, budget_one_way_ms=1.5)
    near_a, near_b = (h.site_id for h in world.hosts[:2])
    sites = list(world.rtt)
    traces = one_walker(sites, [near_a, near_b])
    assert world.rtt[near_b][f"host-{near_a}"] > world.budget_rtt_ms  # a is too far from b
    never = replay(traces, world, NeverMigrate()).summary()
    nearest = replay(traces, world, AlwaysNearest()).summary()
    headroom = replay(traces, world, HeadroomPolicy()).summary()
    assert (never["migrations_per_device_hour"], nearest["cell_changes_per_device_hour"]) == (
        0.0,
        18.0,  # one change in 200 s
    )
    assert nearest["migrations_per_device_hour"] == headroom["migrations_per_device_hour"] == 18.0
    assert never["over_budget_pct"] == pytest.approx(50.0)
    assert nearest["over_budget_pct"] == 0.0
    interruption_pct = 100 * INTERRUPTION_MS["4KiB"] / 1e3 / 200
    assert nearest["slo_compliance_pct"] == pytest.approx(100.0 - interruption_pct)
    assert never["mean_rtt_ms"] == pytest.approx(
        (world.rtt[near_a][f"host-{near_a}"] + world.rtt[near_b][f"host-{near_a}"]) / 2
    )
    # never: host a up 200 s; nearest: a up 100 s + 100 s idle, b up 100 s.
    assert never["instance_hours"] == pytest.approx(200 / 3600)
    assert nearest["instance_hours"] == pytest.approx(300 / 3600)


def _rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for b in document["budgets"] for r in b["results"] + b["on_tuning_trace"]]


def test_the_quick_run_gives_coherent_figures() -> None:
    plan = quick_plan(migration_cost_s=30.0)
    document = evaluate(plan)
    rows = _rows(document)
    assert rows
    for row in rows:
        assert row["device_hours"] == pytest.approx(40 * 300 / 3600)
        assert 0.0 <= row["slo_compliance_pct"] <= 100.0 - row["over_budget_pct"] + 1e-9
        assert row["decisions"] == pytest.approx(
            row["cell_changes_per_device_hour"] * row["device_hours"]
        )
        migrations = row["migrations_per_device_hour"]
        assert row["interruption_ms_per_device_hour_4KiB"] == pytest.approx(migrations * 15.5)
        assert 0 < row["instance_hours"] <= HOSTS * 300 / 3600 + 1e-9
        assert row["operator_cost_s"] == pytest.approx(operator_cost(row, 30.0))
        assert row["decision_p50_us"] > 0.0
    for budget in document["budgets"]:
        assert len(budget["tuning_grid"]) == 20
        best = min(r["operator_cost_s"] for r in budget["tuning_grid"])
        tuned = next(r for r in budget["on_tuning_trace"] if r["policy"] == budget["tuned"])
        assert tuned["operator_cost_s"] == pytest.approx(best)
        for trace in {r["trace"] for r in budget["results"]}:
            mine = {r["policy"]: r for r in budget["results"] if r["trace"] == trace}
            assert mine["never-migrate"]["migrations_per_device_hour"] == 0.0
            most = mine["always-nearest"]["migrations_per_device_hour"]
            assert all(r["migrations_per_device_hour"] <= most for r in mine.values())
            assert mine[TODAY.name]["migrations_per_device_hour"] <= most
    table = markdown(document)
    assert "| always-nearest |" in table
    assert document["budgets"][0]["tuned"] in table
