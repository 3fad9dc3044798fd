"""Mobility policies compared on SUMO traces of Melbourne's CBD: which one, at what cost.

    python -m bench.policies            # full run: about 4 minutes the first time (SUMO makes
                                        # the traces it does not ship), under 1 minute after
    python -m bench.policies --quick    # the tiny shipped trace and random waypoint, seconds

Never-migrate, always-nearest, the threshold policy with today's defaults and HeadroomPolicy
replay the same traces through the real placement engine (`bench/policies_replay.py`). The
headroom policy's two parameters are tuned on one trace set (the shipped 816 devices, seed 1)
and judged on others it never saw (seeds 2-4, and 10 times the users, seed 2). Tuning picks the
least operator cost: over-budget device-seconds plus `--migration-cost-s` seconds per
migration, per device-hour. Writes bench/results/policies-<UTC>.json, prints Markdown tables
(docs/policies.md quotes them) and draws the plots in docs/img/policies/.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.policies_replay import INTERRUPTION_MS, World, build_world, replay
from bench.records import machine, save
from mec_devtools.sim.traces import TraceSet
from mec_devtools.sim.traces.cache import DEMO, TINY, TraceSpec, sumo_traces
from mec_devtools.sim.traces.generate import generate_random_waypoint, sumo_version
from mec_orchestrator.decisions.mobility import (
    AlwaysNearest,
    HeadroomPolicy,
    MobilityPolicy,
    NeverMigrate,
    ThresholdPolicy,
)

HOSTS = 6
"""The demo's edge hosts (examples/edgehosts.yaml: 6 EUA sites spread over the CBD)."""
BUDGETS_ONE_WAY_MS = (1.5, 2.0)
MIGRATION_COST_S = 30.0
GUARDS_MS = (0.0, 0.25, 0.5, 1.0, 1.5)
MIN_GAINS_MS = (0.0, 0.1, 0.25, 0.5)
TODAY = ThresholdPolicy(hysteresis_ms=2 * 2.0, min_dwell_s=10.0)
"""The operator's policy for an app with the EdgeApp defaults (mobility.hysteresisMs 2 one
way, minDwellSeconds 10), as `operator/user_types.mobility_policy` builds it."""
THRESHOLD_VARIANTS = (
    ThresholdPolicy(hysteresis_ms=0.5, min_dwell_s=10.0),
    ThresholdPolicy(hysteresis_ms=1.0, min_dwell_s=10.0),
    ThresholdPolicy(hysteresis_ms=2.0, min_dwell_s=10.0),
)
"""Shown on the trade-off plot only: what lowering today's hysteresis would do."""
REPORT_SPECS = (TraceSpec(816, 1800, 2), TraceSpec(816, 1800, 3), TraceSpec(816, 1800, 4))
SCALE_SPEC = TraceSpec(8160, 1800, 2)
PLOTS = Path(__file__).parent.parent / "docs" / "img" / "policies"


@dataclass(frozen=True)
class Plan:
    tune: TraceSet
    report: list[TraceSet]
    budgets_ms: Sequence[float]
    hosts: int
    migration_cost_s: float


def operator_cost(summary: dict[str, Any], migration_cost_s: float) -> float:
    """Seconds per device-hour: time over the budget, plus migration_cost_s per migration."""
    over_s = 36.0 * float(summary["over_budget_pct"])  # % of 3,600 s
    return over_s + migration_cost_s * float(summary["migrations_per_device_hour"])


def baselines() -> list[MobilityPolicy]:
    return [NeverMigrate(), AlwaysNearest(), TODAY]


def tune(
    traces: TraceSet, world: World, migration_cost_s: float
) -> tuple[HeadroomPolicy, list[dict[str, Any]]]:
    """The headroom parameters of least operator cost on traces; every candidate's figures."""
    rows = []
    for guard, gain in itertools.product(GUARDS_MS, MIN_GAINS_MS):
        policy = HeadroomPolicy(guard_ms=guard, min_gain_ms=gain)
        summary: dict[str, Any] = dict(replay(traces, world, policy).summary())
        summary["guard_ms"], summary["min_gain_ms"] = guard, gain
        summary["operator_cost_s"] = operator_cost(summary, migration_cost_s)
        rows.append(summary)
    best = min(rows, key=lambda r: (r["operator_cost_s"], r["guard_ms"], r["min_gain_ms"]))
    return HeadroomPolicy(best["guard_ms"], best["min_gain_ms"]), rows


def evaluate(plan: Plan) -> dict[str, Any]:
    """Tune per budget, then every policy on every report set; the run's document."""
    budgets = []
    for budget in plan.budgets_ms:
        world = build_world(plan.hosts, plan.tune.devices, budget)
        tuned, grid = tune(plan.tune, world, plan.migration_cost_s)
        cost = plan.migration_cost_s
        tuned_on = [_summary(plan.tune, world, p, cost) for p in [*baselines(), tuned]]
        results = []
        for traces in plan.report:
            world = build_world(plan.hosts, traces.devices, budget)
            results += [
                _summary(traces, world, p, cost) for p in [*baselines(), tuned, *THRESHOLD_VARIANTS]
            ]
        budgets.append(
            {
                "budget_one_way_ms": budget,
                "budget_rtt_ms": 2 * budget,
                "tuned": tuned.name,
                "tuned_guard_ms": tuned.guard_ms,
                "tuned_min_gain_ms": tuned.min_gain_ms,
                "tuning_grid": grid,
                "on_tuning_trace": tuned_on,
                "results": results,
            }
        )
    return {
        "hosts": plan.hosts,
        "migration_cost_s": plan.migration_cost_s,
        "interruption_ms_per_handover": INTERRUPTION_MS,
        "tuned_on": _describe(plan.tune),
        "reported_on": [_describe(t) for t in plan.report],
        "budgets": budgets,
    }


def _summary(
    traces: TraceSet, world: World, policy: MobilityPolicy, migration_cost_s: float
) -> dict[str, Any]:
    summary: dict[str, Any] = dict(replay(traces, world, policy).summary())
    summary["trace"] = traces.name
    summary["operator_cost_s"] = operator_cost(summary, migration_cost_s)
    summary["role"] = "variant" if policy in THRESHOLD_VARIANTS else "compared"
    return summary


def _describe(traces: TraceSet) -> dict[str, Any]:
    return {
        "name": traces.name,
        "devices": traces.devices,
        "duration_s": traces.duration_s,
        "step_s": traces.step_s,
        "generator": traces.meta.get("generator"),
        "seed": traces.meta.get("seed"),
    }


# -- tables ------------------------------------------------------------------------------------

COLUMNS = (
    ("SLO compliance %", "slo_compliance_pct", "{:.2f}"),
    ("migrations /device-h", "migrations_per_device_hour", "{:.2f}"),
    ("interruption ms /device-h (4 KiB / 16 MiB)", None, ""),
    ("instance-h /1000 device-h", "instance_hours_per_1000_device_hours", "{:.0f}"),
    ("mean RTT ms", "mean_rtt_ms", "{:.2f}"),
    ("decision p50 / p99 µs", None, ""),
    ("cost s /device-h", "operator_cost_s", "{:.0f}"),
)


def _cell(row: dict[str, Any], key: str | None, fmt: str, header: str) -> str:
    if header.startswith("interruption"):
        return (
            f"{row['interruption_ms_per_device_hour_4KiB']:.0f} / "
            f"{row['interruption_ms_per_device_hour_16MiB']:.0f}"
        )
    if header.startswith("decision"):
        return f"{row['decision_p50_us']:.1f} / {row['decision_p99_us']:.1f}"
    assert key is not None
    return fmt.format(row[key])


def _mean(rows: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = dict(rows[0])
    for key, value in rows[0].items():
        if isinstance(value, float):
            merged[key] = sum(float(r[key]) for r in rows) / len(rows)
    return merged


def results_table(rows: list[dict[str, Any]], title: str) -> str:
    """One row per policy (mean over the trace sets given)."""
    policies = list(dict.fromkeys(r["policy"] for r in rows if r.get("role") != "variant"))
    lines = [
        f"{title}",
        "",
        "| policy | " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for policy in policies:
        mean = _mean([r for r in rows if r["policy"] == policy])
        cells = [_cell(mean, key, fmt, header) for header, key, fmt in COLUMNS]
        lines.append(f"| {policy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def break_even(rows: list[dict[str, Any]], tuned: str) -> str:
    """The migration cost above which the tuned policy is cheaper than always-nearest."""
    nearest = _mean([r for r in rows if r["policy"] == "always-nearest"])
    mine = _mean([r for r in rows if r["policy"] == tuned])
    saved = nearest["migrations_per_device_hour"] - mine["migrations_per_device_hour"]
    lost_s = 36.0 * (nearest["slo_compliance_pct"] - mine["slo_compliance_pct"])
    if saved <= 0:
        return "\nThe tuned policy migrates no less than always-nearest here."
    if lost_s <= 0:
        return "\nThe tuned policy migrates less and keeps the budget as long: cheaper at any cost."
    return (
        f"\nAgainst always-nearest: {saved:.2f} fewer migrations and {lost_s:.1f} s more outside"
        f" the budget per device-hour; cheaper when a migration costs more than"
        f" {lost_s / saved:.1f} s."
    )


def markdown(document: dict[str, Any]) -> str:
    parts = []
    for budget in document["budgets"]:
        label = f"budget {budget['budget_one_way_ms']:g} ms one way"
        tuned = budget["tuned"]
        parts.append(f"### {label}: tuned {tuned}\n")
        parts.append(results_table(budget["on_tuning_trace"], "On the tuning trace:"))
        names = list(dict.fromkeys(r["trace"] for r in budget["results"]))
        by_size: dict[int, list[str]] = {}
        for name in names:
            devices = next(r["devices"] for r in budget["results"] if r["trace"] == name)
            by_size.setdefault(devices, []).append(name)
        for devices, traces in by_size.items():
            rows = [r for r in budget["results"] if r["trace"] in traces]
            parts.append(
                results_table(
                    rows, f"\nNot tuned on: {', '.join(traces)} ({devices} devices, mean):"
                )
            )
            parts.append(break_even(rows, tuned))
        parts.append("")
    return "\n".join(parts)


# -- main --------------------------------------------------------------------------------------


def quick_plan(migration_cost_s: float) -> Plan:
    tiny = sumo_traces(TINY)
    other = generate_random_waypoint(TINY.devices, TINY.duration_s, TINY.seed + 1)
    return Plan(tiny, [other], BUDGETS_ONE_WAY_MS, HOSTS, migration_cost_s)


def full_plan(migration_cost_s: float, scale: bool) -> Plan:
    report = [sumo_traces(spec) for spec in REPORT_SPECS]
    if scale:
        report.append(sumo_traces(SCALE_SPEC))
    return Plan(sumo_traces(DEMO), report, BUDGETS_ONE_WAY_MS, HOSTS, migration_cost_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny traces, seconds")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10x users set")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--migration-cost-s", type=float, default=MIGRATION_COST_S)
    args = parser.parse_args(argv)
    started = time.time()
    plan = (
        quick_plan(args.migration_cost_s)
        if args.quick
        else full_plan(args.migration_cost_s, not args.no_scale)
    )
    document = evaluate(plan)
    document.update(
        {
            "machine": machine(),
            "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(started)),
            "elapsed_s": time.time() - started,
            "quick": args.quick,
            "sumo_version": sumo_version(),
        }
    )
    path = save("policies", document, started)
    print(markdown(document))
    print(f"\nwrote {path}")
    if not args.no_plots:
        from bench.policies_plots import draw

        for written in draw(document, plan, PLOTS, TODAY.name):
            print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
