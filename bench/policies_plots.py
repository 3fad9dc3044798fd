"""The policy benchmark's plots (PNG, matplotlib): the trade-off per budget, and the traces' map.

Imported only when plotting, so the benchmark's figures do not need matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.policies_replay import build_world
from mec_devtools.sim.topology import melbourne_sites
from mec_devtools.sim.traces import DeviceKind, TraceSet
from mec_devtools.sim.traces.frame import to_latlon
from mec_devtools.sim.traces.hoddle import streets

if TYPE_CHECKING:
    from bench.policies import Plan

MARKERS = {"never-migrate": "s", "always-nearest": "^", "threshold": "v", "headroom": "o"}


def _marker(policy: str) -> str:
    return next((m for prefix, m in MARKERS.items() if policy.startswith(prefix)), "x")


def _label(policy: str, today: str) -> str:
    if policy == today:
        return "threshold (today)"
    if policy.startswith("threshold(h="):
        return "threshold " + policy.split("=", 1)[1].split(",", 1)[0]
    if policy.startswith("headroom"):
        return "headroom (tuned)"
    return policy


def _outside(row: dict[str, Any]) -> float:
    """Device-time outside the budget (interruptions included), %; floored for the log axis."""
    return max(100.0 - float(row["slo_compliance_pct"]), 0.01)


def draw(document: dict[str, Any], plan: Plan, directory: Path, today: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    budgets = document["budgets"]
    figure, axes = plt.subplots(1, len(budgets), figsize=(6.2 * len(budgets), 4.8), squeeze=False)
    for axis, budget in zip(axes[0], budgets, strict=True):
        grid = budget["tuning_grid"]
        axis.scatter(
            [r["migrations_per_device_hour"] for r in grid],
            [_outside(r) for r in grid],
            s=14,
            color="0.75",
            label="headroom grid (tuning trace)",
        )
        sizes = sorted({r["devices"] for r in budget["results"]})
        for devices, colour in zip(sizes, ("tab:blue", "tab:red"), strict=False):
            rows = [r for r in budget["results"] if r["devices"] == devices]
            for policy in dict.fromkeys(r["policy"] for r in rows):
                mine = [r for r in rows if r["policy"] == policy]
                x = float(np.mean([r["migrations_per_device_hour"] for r in mine]))
                y = float(np.mean([_outside(r) for r in mine]))
                variant = mine[0].get("role") == "variant"
                axis.scatter(
                    [x],
                    [y],
                    marker=_marker(policy),
                    s=40 if variant else 70,
                    facecolors="none" if variant else colour,
                    edgecolors=colour,
                )
                axis.annotate(
                    _label(policy, today),
                    (x, y),
                    fontsize=7,
                    color=colour,
                    xytext=(5, 2),
                    textcoords="offset points",
                )
        axis.set_title(
            f"budget {budget['budget_one_way_ms']:g} ms one way (RTT {budget['budget_rtt_ms']:g})"
            f"; blue 816, red {sizes[-1]} devices",
            fontsize=9,
        )
        axis.set_xlabel("migrations per device-hour")
        axis.set_ylabel("device-time outside the budget, % (log)")
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, loc="upper right")
    figure.suptitle(
        "Traces not tuned on (mean): time outside the budget against migrations; lower left is"
        " better",
        fontsize=10,
    )
    figure.tight_layout()
    path = directory / "tradeoff.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    written.append(path)
    written.append(_map(plan.tune, plan.hosts, directory, plt))
    return written


def _map(traces: TraceSet, hosts: int, directory: Path, plt: Any) -> Path:
    figure, axis = plt.subplots(figsize=(8.5, 5.6))
    for street in streets():
        lat, lon = to_latlon(np.array([street.x0, street.x1]), np.array([street.y0, street.y1]))
        axis.plot(lon, lat, color="0.6" if street.main else "0.85", lw=1.6 if street.main else 0.8)
    sites = melbourne_sites()
    axis.scatter(
        [s.longitude for s in sites], [s.latitude for s in sites], s=8, color="k", label="EUA site"
    )
    world = build_world(hosts, traces.devices, 1.0)
    axis.scatter(
        [h.longitude for h in world.hosts],
        [h.latitude for h in world.hosts],
        s=120,
        marker="*",
        color="tab:orange",
        label="edge host",
        zorder=5,
    )
    shown = {DeviceKind.PEDESTRIAN: 0, DeviceKind.VEHICLE: 0}
    for device in range(traces.devices):
        kind = traces.kind(device)
        if shown[kind] >= 3:
            continue
        shown[kind] += 1
        lat, lon = traces.positions(device)
        style = "-" if kind is DeviceKind.PEDESTRIAN else "--"
        axis.plot(lon, lat, style, lw=1.1, label=f"{kind.name.lower()} d{device}")
    axis.set_aspect(1 / np.cos(np.radians(-37.815)))
    axis.set_xlabel("longitude")
    axis.set_ylabel("latitude")
    axis.set_title(f"{traces.name}: the Hoddle Grid, EUA sites, {hosts} edge hosts, 30 min paths")
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path = directory / "map.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
