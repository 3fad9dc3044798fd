"""What the full demo leaves behind: `demo-report/` with its timeline, handovers and plots.

Why it exists: the story (`story.py`) only records; this module judges. Its inputs are what
the product said (EdgeApp status, the live view's handovers with their interruptions, Events)
and what the devices saw (their JSON-lines records, judged by `mec_devtools.ue.analysis` as
the tests and benchmarks judge them). SLO compliance is the share of a device's acknowledged
updates served by an instance whose one-way delay from the device's access point, on the delay
line at that moment, is within the app's budget (the definition of docs/policies.md, per
update instead of per second). The policy comparison's headline is read from the newest
`bench/results/policies-*.json`, the file docs/policies.md and docs/benchmarks.md quote.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import mec_devtools
from mec_devtools.demo.cast import Move, one_way_ms
from mec_devtools.demo.report import plot, serving
from mec_devtools.demo.world import Site
from mec_devtools.ue.analysis import analyse
from mec_devtools.ue.records import read_records

BIN_S = 10.0
HEADLINE_POLICIES = ("never-migrate", "always-nearest", "threshold(h=4ms,dwell=10s)")


@dataclass
class Sample:
    """What the orchestrator said at wall time t (Unix seconds)."""

    t: float
    instances: list[str]
    slo_met: bool
    device_hosts: dict[str, str]
    extra_ms: dict[str, float]


@dataclass
class Evidence:
    """Everything the story recorded; `write_report` turns it into the report."""

    budget_ms: float
    radio_ms: float
    compression: float
    trace: str
    window_s: float
    live_url: str = ""
    timeline: list[tuple[float, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    handovers: dict[str, dict[str, Any]] = field(default_factory=dict)
    pod_hosts: dict[str, str] = field(default_factory=dict)
    placements: list[tuple[str, list[str]]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    records: dict[str, Path] = field(default_factory=dict)
    device_aps: dict[str, str] = field(default_factory=dict)  # start access point
    applied_moves: list[tuple[float, str, str]] = field(default_factory=list)  # (t, device, ap)
    moves: list[Move] = field(default_factory=list)
    hosts: dict[str, Site] = field(default_factory=dict)
    access_points: dict[str, Site] = field(default_factory=dict)
    degraded: str = ""
    degraded_at: float = 0.0
    killed: str = ""
    t0: float = 0.0  # wall time (Unix s) of the story's second 0
    delay_ms: Callable[[Site, Site], float] = one_way_ms  # the delay line's base one-way delay


@dataclass(frozen=True)
class Served:
    """One acknowledged update: when, by which host, from which access point, how fast."""

    t: float
    device: str
    host: str | None
    ap: str
    rtt_ms: float
    one_way_ms: float | None  # the delay line's, access point -> host, at that moment


def served_updates(evidence: Evidence) -> list[Served]:
    """Every acknowledged update of every device, placed on the delay line's truth."""
    served: list[Served] = []
    for device, path in sorted(evidence.records.items()):
        if not path.exists():
            continue
        moves = sorted((t, ap) for t, d, ap in evidence.applied_moves if d == device)
        for record in read_records(path):
            if record.get("kind") != "answer" or not record.get("applied"):
                continue
            t = record["t_ns"] / 1e9
            ap = evidence.device_aps.get(device, "")
            for when, where in moves:
                if when > t:
                    break
                ap = where
            host = evidence.pod_hosts.get(urlsplit(str(record.get("target"))).hostname or "")
            truth = None
            if host in evidence.hosts and ap in evidence.access_points:
                truth = evidence.delay_ms(evidence.access_points[ap], evidence.hosts[host])
                truth += _extra_at(evidence, host, t)
            served.append(Served(t, device, host, ap, record["latency_ns"] / 1e6, truth))
    return served


def _extra_at(evidence: Evidence, host: str, t: float) -> float:
    extra = 0.0
    for sample in evidence.samples:
        if sample.t > t:
            break
        extra = sample.extra_ms.get(host, 0.0)
    return extra


def compliance_bins(
    served: Sequence[Served], budget_ms: float, t0: float, bin_s: float = BIN_S
) -> list[tuple[float, float, float, int]]:
    """Per bin: (start s, % within budget, p50 device RTT ms, updates)."""
    bins: dict[int, list[Served]] = {}
    for item in served:
        bins.setdefault(int((item.t - t0) // bin_s), []).append(item)
    rows = []
    for index in sorted(bins):
        items = bins[index]
        judged = [i for i in items if i.one_way_ms is not None]
        within = sum(1 for i in judged if (i.one_way_ms or 0.0) <= budget_ms)
        pct = 100.0 * within / len(judged) if judged else float("nan")
        rows.append((index * bin_s, pct, statistics.median(i.rtt_ms for i in items), len(items)))
    return rows


def policy_headline(results_dir: Path | None = None) -> tuple[str, list[str]]:
    """(file, lines): the policy comparison's headline from the bench's newest results file.

    A run of `python -m bench.policies` writes bench/results/ (not kept in git); without one,
    the results docs/policies.md quotes are read (docs/results/, kept in git).
    """
    root = Path(mec_devtools.__file__).resolve().parents[1]
    directory = results_dir or root / "bench/results"
    files = sorted(directory.glob("policies-*.json"))
    if not files and results_dir is None:
        files = sorted((root / "docs/results").glob("policies-*.json"))
    if not files:
        return ("", ["No policy comparison results found (run `python -m bench.policies`)."])
    data = json.loads(files[-1].read_text())
    lines = []
    for budget in data.get("budgets", []):
        by_policy: dict[str, list[dict[str, Any]]] = {}
        for row in budget.get("results", []):
            if row.get("devices") == 816:
                by_policy.setdefault(row["policy"], []).append(row)
        for name, rows in by_policy.items():
            if name in HEADLINE_POLICIES or name == budget.get("tuned"):
                lines.append(
                    f"| {budget['budget_one_way_ms']:g} ms | {name} |"
                    f" {_mean(rows, 'slo_compliance_pct'):.2f} |"
                    f" {_mean(rows, 'migrations_per_device_hour'):.2f} |"
                )
    handover = data.get("interruption_ms_per_handover", {})
    lines.append("")
    lines.append(
        f"Run of {data.get('started_utc', '?')} UTC on {data.get('machine', '?')};"
        f" it prices a handover at {handover.get('4KiB', '?')} ms (4 KiB context, p50 of"
        ' docs/benchmarks.md, "Handover").'
    )
    return (f"bench/results/{files[-1].name}", lines)


def _mean(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.fmean(float(r[key]) for r in rows)


def _plots(evidence: Evidence, out: Path, served: list[Served], t0: float) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ModuleNotFoundError as missing:
        raise RuntimeError(
            "the demo's plots need matplotlib: pip install 'mec-orchestrator[demo]'"
        ) from missing
    written = []
    interruptions = [
        float(h["interruption_ms"])
        for h in evidence.handovers.values()
        if h.get("interruption_ms") is not None
    ]
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.hist(interruptions or [0.0], bins=20, color="tab:blue")
    axis.set_xlabel("interruption (ms): how long the user was fenced")
    axis.set_ylabel("handovers")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title(f"{len(interruptions)} handovers with their state (MEC 021)")
    figure.tight_layout()
    figure.savefig(out / "interruptions.png", dpi=110)
    plt.close(figure)
    written.append("interruptions.png")

    rows = compliance_bins(served, evidence.budget_ms, t0)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot([r[0] for r in rows], [r[1] for r in rows], marker="o", color="tab:green")
    top.set_ylabel("% updates within budget")
    top.set_ylim(0, 105)
    bottom.plot([r[0] for r in rows], [r[2] for r in rows], marker=".", color="tab:purple")
    bottom.set_ylabel("device RTT p50 (ms)")
    bottom.set_xlabel("seconds of the story")
    for axis in (top, bottom):
        for t, text in evidence.timeline:
            if any(word in text for word in ("degrades", "recovers", "killed", "started again")):
                axis.axvline(t, color="grey", linestyle=":")
        slo_off = [s.t - t0 for s in evidence.samples if not s.slo_met]
        for t in slo_off:
            axis.axvspan(t, t + 1.0, color="red", alpha=0.08, linewidth=0)
    top.set_title("SLO compliance (delay line truth) and measured RTT; red: LatencySLOMet False")
    figure.tight_layout()
    figure.savefig(out / "slo.png", dpi=110)
    plt.close(figure)
    written.append("slo.png")

    locations = {h: (s.latitude, s.longitude) for h, s in evidence.hosts.items()}
    aps = {a: (s.latitude, s.longitude) for a, s in evidence.access_points.items()}
    panels = []
    for label, hosts in evidence.placements:
        extra = {evidence.degraded: 1e3} if "degraded" in label and evidence.degraded else {}
        running = [h for h in hosts if h in locations]
        panels.append((label, serving(running, locations, aps, extra), running))
    if panels:
        plot(out / "placement.png", panels, locations, aps)
        written.append("placement.png")
    return written


def write_report(evidence: Evidence, out: Path) -> Path:
    """Write report.md and the plots into out; returns the Markdown file."""
    out.mkdir(parents=True, exist_ok=True)
    served = served_updates(evidence)
    t0 = evidence.t0 or (evidence.samples[0].t if evidence.samples else 0.0)
    plots = _plots(evidence, out, served, t0)
    text = markdown(evidence, served, t0, plots)
    path = out / "report.md"
    path.write_text(text)
    return path


def markdown(evidence: Evidence, served: list[Served], t0: float, plots: list[str]) -> str:
    handovers = sorted(evidence.handovers.values(), key=lambda h: h.get("started_s") or 0.0)
    completed = [h for h in handovers if h.get("interruption_ms") is not None]
    times = sorted(float(h["interruption_ms"]) for h in completed)
    judged = [s for s in served if s.one_way_ms is not None]
    within = sum(1 for s in judged if (s.one_way_ms or 0.0) <= evidence.budget_ms)
    source, headline = policy_headline()
    names = device_names(evidence.records)
    switches = sum(_switches(p) for p in evidence.records.values() if p.exists())
    lines = [
        "# Demo report (`mec-orchestrator demo --story full`)",
        "",
        f"Trace `{evidence.trace}`: {evidence.window_s:.0f} s of it played"
        f" {evidence.compression:g}x faster; {len(evidence.records)} devices,"
        f" {len(evidence.hosts)} edge hosts, {len(evidence.access_points)} access points;"
        f" budget {evidence.budget_ms:g} ms one way. Live view was at `{evidence.live_url}`.",
        "",
        "## Numbers",
        "",
        f"- handovers seen by the orchestrator: {len(handovers)} ({_states(handovers)})",
        f"- interruption (completed handovers): p50 {_pct(times, 50)} ms, p90 {_pct(times, 90)}"
        f" ms, max {_pct(times, 100)} ms",
        f"- instance switches the devices saw: {switches} (the handovers above, and"
        " re-placements without the state when a host was lost)",
        f"- SLO compliance over the run: {100.0 * within / max(1, len(judged)):.1f} % of"
        f" {len(judged)} acknowledged updates were served within the budget",
        "",
        "## Timeline (seconds since the story began)",
        "",
        "| s | what |",
        "|---:|---|",
        *[f"| {t:.1f} | {text} |" for t, text in evidence.timeline],
        "",
        "## Devices (their own records, `mec_devtools.ue.analysis`)",
        "",
        "| device | sent | applied | lost | duplicated | switches | state restarted at"
        " | RTT p50 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *_device_rows(evidence),
        "",
        "## Every handover",
        "",
        "| s | user | source -> target | state | interruption ms | reason |",
        "|---:|---|---|---|---:|---|",
        *[
            f"| {float(h.get('started_s') or t0) - t0:.1f} |"
            f" {names.get(str(h.get('user')), str(h.get('user'))[:12])} |"
            f" {h.get('source')} -> {h.get('target')} | {h.get('state')} |"
            f" {_ms(h.get('interruption_ms'))} |"
            f" {h.get('reason', '')} |"
            for h in handovers
        ],
        "",
        "![interruptions](interruptions.png)",
        "",
        "## SLO compliance over time",
        "",
        "| s | % within budget | device RTT p50 ms | updates |",
        "|---:|---:|---:|---:|",
        *[
            f"| {start:.0f} | {pct:.1f} | {rtt:.1f} | {n} |"
            for start, pct, rtt, n in compliance_bins(served, evidence.budget_ms, t0)
        ],
        "",
        "![SLO](slo.png)",
        "",
        "## Placements",
        "",
        *[f"- **{label}**: {', '.join(hosts) or 'none'}" for label, hosts in evidence.placements],
        "",
        "![placement maps](placement.png)" if "placement.png" in plots else "",
        "",
        "## The policy comparison's headline",
        "",
        f'From `{source}` (docs/policies.md and docs/benchmarks.md, "Mobility policies",'
        " quote the same run): SLO compliance and migrations per device-hour, mean of the"
        " held-out 816-device traces.",
        "",
        "| budget (one way) | policy | SLO compliance % | migrations /device-h |",
        "|---|---|---:|---:|",
        *headline,
        "",
        "## Events on the EdgeApp",
        "",
        "```",
        *evidence.events[-60:],
        "```",
        "",
    ]
    return "\n".join(lines)


def state_restarts(path: Path) -> list[float]:
    """When the user's record started again (its version not one more than before), Unix s.

    A handover with the state keeps counting; a re-placement without it starts at 1.
    """
    answers = [
        (int(r["version"]), float(r["t_ns"]) / 1e9)
        for r in read_records(path)
        if r.get("kind") == "answer" and r.get("applied") and isinstance(r.get("version"), int)
    ]
    return [t for (a, _), (b, t) in itertools.pairwise(answers) if b != a + 1]


def device_names(records: Mapping[str, Path]) -> dict[str, str]:
    """App context id -> device name, from each device's `context` records."""
    names = {}
    for device, path in records.items():
        if path.exists():
            for record in read_records(path):
                if record.get("kind") == "context" and record.get("contextId"):
                    names[str(record["contextId"])] = device
    return names


def _ms(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}"


def _at(times: Sequence[float], t0: float) -> str:
    return ", ".join(f"{t - t0:.0f} s" for t in times) or "none"


def _switches(path: Path) -> int:
    return sum(1 for r in read_records(path) if r.get("kind") == "switch")


def _states(handovers: Sequence[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for h in handovers:
        counts[str(h.get("state"))] = counts.get(str(h.get("state")), 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"


def _pct(values: Sequence[float], q: float) -> str:
    if not values:
        return "-"
    index = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return f"{values[index]:.1f}"


def _device_rows(evidence: Evidence) -> list[str]:
    rows = []
    for device, path in sorted(evidence.records.items()):
        if not path.exists():
            rows.append(f"| {device} | no records | | | | | | |")
            continue
        try:
            result = analyse(read_records(path))
        except ValueError as error:
            rows.append(f"| {device} | {error} | | | | | | |")
            continue
        p50 = result.percentiles_ns.get(50.0)
        rows.append(
            f"| {device} | {result.sent} | {result.applied} | {len(result.lost_before_stop)} |"
            f" {len(result.duplicated)} | {len(result.switches)} |"
            f" {_at(state_restarts(path), evidence.t0)} |"
            f" {'' if p50 is None else f'{p50 / 1e6:.1f}'} |"
        )
    return rows
