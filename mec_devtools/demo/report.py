"""The demo's closing report: a Markdown summary and a map of who serves which cell.

The map needs matplotlib, an extra (`pip install 'mec-orchestrator[demo]'`): it is imported when
a map is drawn, so the rest of the tooling (and `--help`) works without it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mec_devtools.demo.latency_model import rtt_ms


@dataclass
class Snapshot:
    """Where an app's instances ran at one moment of the demo."""

    title: str
    hosts: list[str]


@dataclass
class DemoReport:
    control_plane_s: float
    timings: dict[str, float] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    apps: dict[str, str] = field(default_factory=dict)  # app -> final `kubectl get ea` line
    events: list[str] = field(default_factory=list)


def serving(
    hosts: list[str],
    host_locations: dict[str, tuple[float, float]],
    access_points: dict[str, tuple[float, float]],
    extra_ms: dict[str, float],
) -> dict[str, tuple[str, float]]:
    """Each access point's nearest running instance and its RTT (what a user there gets)."""
    result: dict[str, tuple[str, float]] = {}
    for ap, location in access_points.items():
        options = [(rtt_ms(location, host_locations[h], extra_ms.get(h, 0.0)), h) for h in hosts]
        if options:
            rtt, host = min(options)
            result[ap] = (host, rtt)
    return result


def plot(
    path: Path,
    panels: list[tuple[str, dict[str, tuple[str, float]], list[str]]],
    host_locations: dict[str, tuple[float, float]],
    access_points: dict[str, tuple[float, float]],
) -> None:
    """One map per panel: cells coloured by their serving host; instances as stars."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as missing:
        raise RuntimeError(
            "the demo's map needs matplotlib: pip install 'mec-orchestrator[demo]'"
        ) from missing
    names = sorted(host_locations)
    colours = {h: plt.get_cmap("tab10")(i % 10) for i, h in enumerate(names)}
    figure, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 6), squeeze=False)
    for axis, (title, assignment, running) in zip(axes[0], panels, strict=True):
        for ap, (host, _) in assignment.items():
            lat, lon = access_points[ap]
            axis.scatter(lon, lat, s=18, color=colours[host], alpha=0.7)
        for host in names:
            lat, lon = host_locations[host]
            if host in running:
                axis.scatter(
                    lon, lat, s=320, marker="*", color=colours[host], edgecolors="black", zorder=3
                )
            else:
                axis.scatter(
                    lon, lat, s=90, marker="s", facecolors="none", edgecolors="grey", zorder=3
                )
            axis.annotate(
                host.removeprefix("site-"),
                (lon, lat),
                fontsize=7,
                xytext=(4, 4),
                textcoords="offset points",
            )
        worst = max((rtt for _, rtt in assignment.values()), default=0.0)
        axis.set_title(f"{title}\nworst cell RTT {worst:.1f} ms", fontsize=10)
        axis.ticklabel_format(useOffset=False)
        axis.set_xlabel("longitude")
        axis.set_ylabel("latitude")
    figure.suptitle(
        "Melbourne CBD: cells coloured by the edge host serving them (stars = instances)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def markdown(report: DemoReport, plot_name: str) -> str:
    lines = [
        "# Demo report",
        "",
        f"Control plane ready in {report.control_plane_s:.1f} s.",
        "",
        "| step | seconds |",
        "|---|---:|",
        *[f"| {step} | {seconds:.2f} |" for step, seconds in report.timings.items()],
        "",
        "## Placements",
        "",
        *[f"- **{s.title}**: {', '.join(s.hosts)}" for s in report.snapshots],
        "",
        "## `kubectl get edgeapps`",
        "",
        "```",
        *report.apps.values(),
        "```",
        "",
        "## Events",
        "",
        "```",
        *report.events,
        "```",
        "",
        f"![placement map]({plot_name})",
        "",
    ]
    return "\n".join(lines)
