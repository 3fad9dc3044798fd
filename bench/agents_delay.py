"""Edge-host agents against the delay line: RTT error per probe, and time to notice a step.

    python -m bench.agents_delay                   # about 4 minutes
    python -m bench.agents_delay --seconds 10 --steps 10

One access point (a reflector) and one edge host (an `edge-host-agent run` probing it at 20 Hz)
live in network namespaces joined by the delay-line switch; the agent reports over mutual TLS to
an agent server in this process (root namespace, the network's gateway), whose latency matrix
has the operator's settings (EWMA weight 0.2, window of 64 samples).

(a) **RTT error.** For each one-way delay (2, 5, 10, 20 ms) every sample the agent reports is
matched to its probe's two frames in the switch's ground truth, and compared with the time those
frames really spent in the delay line (probe delay + reply delay). Matching is by time, since a
sample carries no payload: a sample's time at the server (batch arrival minus the sample's age
on the agent's clock, on CLOCK_REALTIME like the ground truth) is within a millisecond or two of
its reply frame leaving the switch, and replies are 50 ms apart. The probe is the last frame the
agent's socket sent to the reflector before that reply entered the switch. error = agent RTT -
(probe delay + reply delay): what the agent adds by its own timing (stacks, scheduling at both
ends). Targets: median <= 100 µs, p95 <= 300 µs (of |error|).

(b) **Time to detect a step.** With the host at one delay, the delay line's one-way delay to the
access point steps by +/- STEP/2 ms in both directions, so the RTT steps by STEP ms (default 2).
Detection is the first sample ingested after the change that moves the pair's EWMA (the value
placement ranks by) at least STEP/2 ms from its value at the change, in the step's direction;
the time is from just before the delay change to the ingestion of that sample, both on this
process's monotonic clock. It covers probing (20 Hz), the sample's RTT, batching (100 ms) and
the EWMA's lag. The same is reported for the window p50 (what EdgeHost summaries show). Target
(EWMA, 2 ms step): <= 500 ms.

Writes bench/results/agents-delay-<date>.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from bench.delayline import machine, quantile
from bench.records import save
from mec_common.tls import write_agent_pki
from mec_devtools.sim.network import FrameRecord, Network, Node
from mec_orchestrator.adapters.agent_link import AgentMetrics, AgentServer, AgentServerSettings
from mec_orchestrator.decisions.latency import LatencyMatrix

HOST = "bench-edge"
ACCESS_POINT = "ap1"
REFLECTOR_PORT = 8620
UDP = 17
MATCH_WINDOW_NS = 20_000_000  # a sample's time is this close to its reply frame, or unmatched


@dataclass
class Step:
    """One delay change and when each detector first saw it."""

    started: float  # monotonic, just before the change
    direction: int  # +1 up, -1 down
    threshold_ms: float
    ewma_before: float
    p50_before: float
    ewma_seen: float | None = None
    p50_seen: float | None = None


@dataclass
class RecordingSink:
    """The agent server's sink: a latency matrix, every sample kept, and a step detector."""

    matrix: LatencyMatrix = field(default_factory=LatencyMatrix)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (realtime s, rtt ms)
    step: Step | None = None

    def record_latency(self, access_point: str, host: str, rtt_ms: float, at_s: float) -> None:
        stats = self.matrix.record(access_point, host, rtt_ms, at_s)
        self.samples.append((at_s, rtt_ms))
        step = self.step
        if step is None:
            return
        now = time.monotonic()
        if step.ewma_seen is None and (
            (stats.ewma_ms - step.ewma_before) * step.direction >= step.threshold_ms
        ):
            step.ewma_seen = now
        if step.p50_seen is None and (
            (stats.percentile(50.0) - step.p50_before) * step.direction >= step.threshold_ms
        ):
            step.p50_seen = now

    def pair(self) -> tuple[float, float]:
        stats = self.matrix.stats(ACCESS_POINT, HOST)
        assert stats is not None
        return stats.ewma_ms, stats.percentile(50.0)


def summary_us(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), 1),
        "p95": round(quantile(values, 0.95), 1),
        "p99": round(quantile(values, 0.99), 1),
        "max": round(max(values), 1),
        "min": round(min(values), 1),
    }


def delay_ns(record: FrameRecord) -> int | None:
    if record.outcome != "sent" or record.leave_ns is None:
        return None
    return record.leave_ns - record.enter_ns


def true_rtts(truth: list[FrameRecord], ap: Node, host: Node) -> list[tuple[int, int]]:
    """(reply leave time, probe delay + reply delay) per answered probe, ordered by time."""
    probes = sorted(
        (r for r in truth if r.ingress == host.name and r.egress == ap.name and r.protocol == UDP),
        key=lambda r: r.enter_ns,
    )
    by_port: dict[int | None, list[FrameRecord]] = {}
    for probe in probes:
        if probe.leave_ns is not None:
            by_port.setdefault(probe.src_port, []).append(probe)
    left = {port: [p.leave_ns or 0 for p in frames] for port, frames in by_port.items()}
    pairs: list[tuple[int, int]] = []
    for reply in truth:
        if not (
            reply.ingress == ap.name
            and reply.egress == host.name
            and reply.protocol == UDP
            and reply.src_port == REFLECTOR_PORT
        ):
            continue
        reply_delay = delay_ns(reply)
        candidates = by_port.get(reply.dst_port, [])
        index = bisect.bisect_right(left.get(reply.dst_port, []), reply.enter_ns) - 1
        if reply_delay is None or reply.leave_ns is None or index < 0:
            continue
        probe_delay = delay_ns(candidates[index])
        if probe_delay is not None:
            pairs.append((reply.leave_ns, probe_delay + reply_delay))
    pairs.sort()
    return pairs


def match(
    samples: list[tuple[float, float]], pairs: list[tuple[int, int]]
) -> list[tuple[float, float]]:
    """(agent RTT ms, true RTT ms) for each sample whose reply frame is found (nearest in time)."""
    times = [t for t, _ in pairs]
    matched: list[tuple[float, float]] = []
    used: set[int] = set()
    for at_s, rtt_ms in samples:
        at_ns = round(at_s * 1e9)
        i = bisect.bisect_left(times, at_ns)
        near = [j for j in (i - 1, i) if 0 <= j < len(times)]
        if not near:
            continue
        best = min(near, key=lambda j: abs(times[j] - at_ns))
        if abs(times[best] - at_ns) > MATCH_WINDOW_NS or best in used:
            continue
        used.add(best)
        matched.append((rtt_ms, pairs[best][1] / 1e6))
    return matched


async def measure_error(
    net: Network, sink: RecordingSink, nodes: tuple[Node, Node], one_way_ms: float, seconds: float
) -> dict[str, Any]:
    ap, host = nodes
    await asyncio.to_thread(net.set_delay, ap, host, one_way_ms)
    await asyncio.sleep(1.0)  # probes in flight under the old delay are gone
    await asyncio.to_thread(net.clear_ground_truth)
    start_s = time.time()
    await asyncio.sleep(seconds)
    end_s = time.time()
    await asyncio.sleep(0.5)  # the last batches arrive
    truth = await asyncio.to_thread(net.ground_truth)
    window = [(t, r) for t, r in sink.samples if start_s + 0.2 <= t <= end_s - 0.2]
    matched = match(window, true_rtts(truth, ap, host))
    errors = [(agent - true) * 1000 for agent, true in matched]
    nominal = 2 * one_way_ms
    return {
        "one_way_ms": one_way_ms,
        "samples": len(window),
        "matched": len(matched),
        "error_us": summary_us(errors),
        "abs_error_us": summary_us([abs(e) for e in errors]),
        "agent_rtt_median_ms": round(statistics.median(r for _, r in window), 4),
        "true_rtt_median_ms": round(statistics.median(t for _, t in matched), 4),
        "agent_minus_nominal_median_us": round(
            (statistics.median(r for _, r in window) - nominal) * 1000, 1
        ),
    }


async def measure_steps(
    net: Network,
    sink: RecordingSink,
    nodes: tuple[Node, Node],
    *,
    base_ms: float,
    step_rtt_ms: float,
    steps: int,
    spacing_s: float,
) -> dict[str, Any]:
    ap, host = nodes
    await asyncio.to_thread(net.set_delay, ap, host, base_ms)
    await asyncio.sleep(spacing_s)
    done: list[Step] = []
    for n in range(steps):
        direction = 1 if n % 2 == 0 else -1
        ewma, p50 = sink.pair()
        step = Step(time.monotonic(), direction, step_rtt_ms / 2, ewma, p50)
        sink.step = step
        one_way = base_ms + (step_rtt_ms / 2 if direction > 0 else 0.0)
        await asyncio.to_thread(net.set_delay, ap, host, one_way)
        await asyncio.sleep(spacing_s)
        sink.step = None
        done.append(step)
    ewma_ms = [(s.ewma_seen - s.started) * 1000 for s in done if s.ewma_seen is not None]
    p50_ms = [(s.p50_seen - s.started) * 1000 for s in done if s.p50_seen is not None]
    return {
        "base_one_way_ms": base_ms,
        "rtt_step_ms": step_rtt_ms,
        "threshold_ms": step_rtt_ms / 2,
        "steps": steps,
        "spacing_s": spacing_s,
        "ewma_detected": len(ewma_ms),
        "ewma_ms": summary_us(ewma_ms) if ewma_ms else None,
        "p50_detected": len(p50_ms),
        "p50_ms": summary_us(p50_ms) if p50_ms else None,
    }


async def start_agent(
    net: Network, workdir: Path, host: Node, reflector: str
) -> tuple[AgentServer, RecordingSink, subprocess.Popen[bytes]]:
    pki = write_agent_pki(workdir / "pki", (HOST,), orchestrator_ips=(net.gateway,))
    files = pki.orchestrator
    sink = RecordingSink()
    server = AgentServer(
        AgentServerSettings(
            listen=f"{net.gateway}:0", ca_cert=files.ca_cert, cert=files.cert, key=files.key
        ),
        sink,
        metrics=AgentMetrics(CollectorRegistry()),
        clock=time.time,  # sample times on CLOCK_REALTIME, like the ground truth
    )
    port = await server.start()
    tls = pki.edge_host(HOST)
    args = ["run", "--host", HOST, "--orchestrator", f"{net.gateway}:{port}"]
    args += ["--ca-cert", str(tls.ca_cert), "--cert", str(tls.cert), "--key", str(tls.key)]
    args += ["--listen", "0.0.0.0:50061", "--access-point", f"{ACCESS_POINT}={reflector}"]
    args += ["--probe-rate", "20"]
    env = {**os.environ, "GRPC_VERBOSITY": "ERROR"}
    with (workdir / "agent.log").open("wb") as log:
        agent = net.popen(
            host, [sys.executable, "-m", "edge_host_agent", *args], stderr=log, env=env
        )
    deadline = time.monotonic() + 60
    while server.registry.get(HOST) is None or len(sink.samples) < 20:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the agent did not report: {(workdir / 'agent.log').read_text()}")
        await asyncio.sleep(0.2)
    return server, sink, agent


async def run(args: argparse.Namespace) -> dict[str, Any]:
    delays = [float(d) for d in args.delays.split(",")]
    with tempfile.TemporaryDirectory() as scratch, Network(name_prefix="bagd") as net:
        workdir = Path(scratch)
        ap, host = net.add_node("ap1"), net.add_node("host")
        reflector = net.popen(
            ap,
            [sys.executable, "-m", "edge_host_agent", "reflector", "--listen", "0.0.0.0:8620"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert reflector.stdout is not None
        await asyncio.to_thread(reflector.stdout.readline)  # {"listening": [...]}
        net.set_delay(ap, host, delays[0])
        server, sink, agent = await start_agent(net, workdir, host, f"{ap.ip}:{REFLECTOR_PORT}")
        try:
            errors = []
            for one_way in delays:
                row = await measure_error(net, sink, (ap, host), one_way, args.seconds)
                print(error_row(row), file=sys.stderr, flush=True)
                errors.append(row)
            detection = []
            for step_rtt, steps in ((args.step, args.steps), (2 * args.step, args.steps // 2)):
                row = await measure_steps(
                    net,
                    sink,
                    (ap, host),
                    base_ms=args.base,
                    step_rtt_ms=step_rtt,
                    steps=max(steps, 2),
                    spacing_s=args.spacing,
                )
                print(step_row(row), file=sys.stderr, flush=True)
                detection.append(row)
            stats = net.stats()
        finally:
            agent.terminate()  # first, so no report stream is cut by the server's stop
            await asyncio.to_thread(agent.wait, 10)
            await server.stop(1)
    return {
        "errors": errors,
        "detection": detection,
        "switch": {k: stats.get(k) for k in ("realtime", "lead_us", "late_releases")},
    }


def error_row(row: dict[str, Any]) -> str:
    e, a = row["error_us"], row["abs_error_us"]
    return (
        f"| {row['one_way_ms']:g} | {row['matched']}/{row['samples']} | {e['median']:.0f} "
        f"| {a['median']:.0f} | {a['p95']:.0f} | {a['p99']:.0f} | {a['max']:.0f} "
        f"| {row['agent_minus_nominal_median_us']:.0f} |"
    )


def step_row(row: dict[str, Any]) -> str:
    def cell(key: str) -> str:
        s = row[key]
        return "—" if s is None else f"{s['median']:.0f} / {s['p95']:.0f} / {s['max']:.0f}"

    return (
        f"| {row['rtt_step_ms']:g} ms (one way {row['base_one_way_ms']:g} -> "
        f"{row['base_one_way_ms'] + row['rtt_step_ms'] / 2:g}) | {row['threshold_ms']:g} ms "
        f"| {row['ewma_detected']}/{row['steps']} | {cell('ewma_ms')} "
        f"| {row['p50_detected']}/{row['steps']} | {cell('p50_ms')} |"
    )


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| one-way ms | matched / samples | error median µs | \\|error\\| median µs "
        "| \\|error\\| p95 µs | \\|error\\| p99 µs | \\|error\\| max µs "
        "| agent RTT - 2 x nominal, median µs |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(error_row(r) for r in results["errors"]),
        "",
        "| RTT step | detector threshold | EWMA detected | EWMA ms median / p95 / max "
        "| p50 detected | p50 ms median / p95 / max |",
        "|---|---:|---:|---:|---:|---:|",
        *(step_row(r) for r in results["detection"]),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--delays", default="2,5,10,20", help="one-way delays for (a), ms")
    parser.add_argument("--seconds", type=float, default=20.0, help="per delay in (a)")
    parser.add_argument("--base", type=float, default=5.0, help="one-way delay before steps, ms")
    parser.add_argument("--step", type=float, default=2.0, help="RTT step in (b), ms")
    parser.add_argument("--steps", type=int, default=20, help="steps of (b); half as many x2")
    parser.add_argument("--spacing", type=float, default=4.0, help="seconds between steps")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.time()
    results = asyncio.run(run(args))
    document = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "command": " ".join(["python -m bench.agents_delay", shlex.join(sys.argv[1:])]).strip(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "probe_rate_hz": 20,
        "report_interval_s": 0.1,
        "matrix": {"ewma_alpha": 0.2, "window_samples": 64},
        **results,
    }
    path = save("agents-delay", document, started)
    print(json.dumps({k: document[k] for k in ("machine", "date", "command")}, indent=2))
    print(markdown(results))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nwritten to {shown}")


if __name__ == "__main__":
    main()
