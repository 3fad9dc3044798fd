"""Accuracy and CPU cost of the userspace delay line, measured against its own ground truth.

    python -m bench.delayline                       # 2/5/10/20 ms at 20 and 200 packets/s
    python -m bench.delayline --seconds 10 --modes realtime

For every one-way delay and packet rate, a UDP pinger in one namespace sends probes to an echo
server in another through the switch. For each probe frame (request and reply) the switch
recorded when it entered and when it left; the error is that actual delay minus the nominal one.
The switch's CPU use is its user+system time over the run's wall time. "realtime" runs the switch
with SCHED_FIFO (the default of `Network`), "normal" without it. Results go to bench/results/ as
JSON and a Markdown table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.records import save
from mec_devtools.sim.network import Network, Node
from mec_devtools.sim.network.probe import PingResult

PROBE = [sys.executable, "-m", "mec_devtools.sim.network.probe"]
PORT = 7007


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values),
        "p95": quantile(values, 0.95),
        "p99": quantile(values, 0.99),
        "max": max(values),
        "min": min(values),
    }


def ping(net: Network, source: Node, target: Node, count: int, interval: float) -> PingResult:
    args = ["ping", "--to", target.ip, "--port", str(PORT), "--count", str(count)]
    args += ["--interval", str(interval), "--wait", "1.0"]
    done = net.run(source, [*PROBE, *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return PingResult.from_json(json.loads(done.stdout))


def measure(
    net: Network, nodes: tuple[Node, Node], delay_ms: float, rate: int, seconds: float
) -> dict[str, Any]:
    h1, h2 = nodes
    net.set_delay(h1, h2, delay_ms)
    ping(net, h1, h2, 3, 0.01)  # ARP and caches warm
    net.clear_ground_truth()
    cpu_before, wall_before = float(net.stats()["cpu_s"]), time.monotonic()
    result = ping(net, h1, h2, max(1, round(rate * seconds)), 1.0 / rate)
    cpu = float(net.stats()["cpu_s"]) - cpu_before
    wall = time.monotonic() - wall_before
    digests = {p.digest for p in result.probes}
    records = [r for r in net.ground_truth() if r.payload_digest in digests]
    errors = [r.error_ns / 1000 for r in records if r.error_ns is not None]
    rtt_excess = [(p.rtt_ns / 1e6 - 2 * delay_ms) * 1000 for p in result.probes if p.rtt_ns]
    return {
        "delay_ms": delay_ms,
        "rate_pps": rate,
        "probes": result.sent,
        "replies": result.received,
        "frames": len(records),
        "error_us": summary(errors),
        "abs_error_us": summary([abs(e) for e in errors]),
        "rtt_excess_us": summary(rtt_excess),
        "switch_cpu_percent": 100.0 * cpu / wall,
        "wall_s": wall,
    }


def run_mode(mode: str, delays: list[float], rates: list[int], seconds: float) -> dict[str, Any]:
    rows = []
    with Network(name_prefix="bench", realtime=mode == "realtime") as net:
        h1, h2 = net.add_node("h1"), net.add_node("h2")
        echo = net.popen(h2, [*PROBE, "echo", "--port", str(PORT)], stdout=subprocess.PIPE)
        if echo.stdout is None or not echo.stdout.readline().startswith(b"ready"):
            raise RuntimeError("echo server did not start")
        idle_before = float(net.stats()["cpu_s"])
        time.sleep(2.0)
        idle_percent = 100.0 * (float(net.stats()["cpu_s"]) - idle_before) / 2.0
        for delay in delays:
            for rate in rates:
                row = measure(net, (h1, h2), delay, rate, seconds)
                rows.append(row)
                print(mode, markdown_row(row), file=sys.stderr, flush=True)
        stats = net.stats()
    return {
        "mode": mode,
        "idle_cpu_percent": idle_percent,
        "realtime": stats["realtime"],
        "lead_us": stats["lead_us"],
        "rows": rows,
    }


def markdown_row(row: dict[str, Any]) -> str:
    e = row["error_us"]
    a = row["abs_error_us"]
    return (
        f"| {row['delay_ms']:g} | {row['rate_pps']} | {row['frames']} | {e['median']:.0f} "
        f"| {a['p95']:.0f} | {a['p99']:.0f} | {a['max']:.0f} "
        f"| {row['rtt_excess_us']['median']:.0f} | {row['switch_cpu_percent']:.1f} |"
    )


def markdown(report: dict[str, Any]) -> str:
    lines = []
    for mode in report["modes"]:
        lines.append(
            f"\n{mode['mode']} scheduling (switch idle CPU {mode['idle_cpu_percent']:.1f} %):\n"
        )
        lines.append(
            "| one-way ms | pkt/s | frames | error median µs | \\|error\\| p95 µs "
            "| \\|error\\| p99 µs | \\|error\\| max µs | app RTT excess median µs | switch CPU % |"
        )
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        lines.extend(markdown_row(row) for row in mode["rows"])
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--delays", default="2,5,10,20", help="one-way delays, ms")
    parser.add_argument("--rates", default="20,200", help="probes per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="per delay and rate")
    parser.add_argument("--modes", default="realtime,normal", help="realtime and/or normal")
    args = parser.parse_args()
    delays = [float(d) for d in args.delays.split(",")]
    rates = [int(r) for r in args.rates.split(",")]
    report: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join(["python -m bench.delayline", shlex.join(sys.argv[1:])]).strip(),
        "load_average_before": os.getloadavg(),
        "seconds_per_point": args.seconds,
        "clock": "CLOCK_REALTIME",
        "modes": [run_mode(m, delays, rates, args.seconds) for m in args.modes.split(",")],
    }
    report["load_average_after"] = os.getloadavg()
    path = save("delayline", report)
    print(json.dumps({k: report[k] for k in ("machine", "date", "command")}, indent=2))
    print(markdown(report))
    print(
        f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
    )


if __name__ == "__main__":
    main()
