"""Edge-host agent benchmarks: report ingestion at the orchestrator, agent CPU and memory.

    python -m bench.agents                  # both, full length (about 2 minutes)
    python -m bench.agents --quick          # shorter windows, same figures

Writes bench/results/agents-<date>.json and prints a Markdown table (docs/benchmarks.md,
section "Edge-host agents", quotes it). RTT error against the delay line's ground truth and
step-detection time need the network-namespace delay line and are measured with it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import agents_footprint, agents_ingest
from bench.records import machine, save


async def run(quick: bool) -> dict[str, Any]:
    seconds = 5.0 if quick else 10.0
    ingest = []
    with tempfile.TemporaryDirectory() as scratch:
        for sink in ("matrix", "engine"):
            for batch in (250, 2500):
                ingest.append(
                    await agents_ingest.measure(
                        Path(scratch) / f"{sink}-{batch}",
                        hosts=4,
                        batch=batch,
                        seconds=seconds,
                        sink=sink,
                    )
                )
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
        footprint = await agents_footprint.measure(
            Path(scratch) / "footprint",
            access_points=125,
            rate_hz=20.0,
            seconds=10.0 if quick else 30.0,
        )
    return {"ingest": ingest, "agent_footprint": footprint}


def table(results: dict[str, Any]) -> str:
    lines = [
        "| sink | batch (samples) | samples/s | server CPU (cores) | samples per CPU-s |",
        "|---|---|---|---|---|",
    ]
    for row in results["ingest"]:
        lines.append(
            f"| {row['sink']} | {row['batch_samples']} | {row['samples_per_second']:,} "
            f"| {row['server_cpu_fraction']:.2f} | {row['samples_per_cpu_second']:,} |"
        )
    f = results["agent_footprint"]
    lines += [
        "",
        "| access points x rate | agent CPU (of one core) | agent RSS median / peak | "
        "samples/s at orchestrator | reflector CPU |",
        "|---|---|---|---|---|",
        f"| {f['access_points']} x {f['probe_rate_hz']:g} Hz "
        f"| {100 * f['agent_cpu_fraction_of_one_core']:.1f} % "
        f"| {f['agent_rss_mib_median']} / {f['agent_rss_mib_peak']} MiB "
        f"| {f['samples_per_second_at_orchestrator']:,} (of {f['expected_samples_per_second']:g}) "
        f"| {100 * f['reflector_cpu_fraction_of_one_core']:.1f} % |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter measuring windows")
    args = parser.parse_args()
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    results = asyncio.run(run(args.quick))
    document = {
        "machine": machine(),
        "kernel": platform.release(),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.agents" + (" --quick" if args.quick else ""),
        "load_average_1min": {"start": load_before, "end": os.getloadavg()[0]},
        **results,
    }
    path = save("agents", document, started.timestamp())
    print(table(results))
    print(
        f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
