"""Control-plane provisioning figures: warm start (cached binaries) and cold build (empty caches).

    python -m bench.devcluster --warm 5        # start/stop the control plane 5 times
    python -m bench.devcluster --cold          # build every binary from empty Go and binary caches

Cold mode points GOMODCACHE, GOCACHE and the binary cache at a fresh temporary directory, so it
measures what a fresh machine pays once (downloads included); it takes tens of minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.records import machine
from mec_devtools.devcluster import DevCluster, DevClusterSettings, binaries
from mec_devtools.devcluster.versions import default_tools

RESULTS = Path(__file__).parent / "results"


def warm(runs: int) -> dict[str, object]:
    starts: list[float] = []
    stops: list[float] = []
    phases: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as state:
        cluster = DevCluster(DevClusterSettings(state_dir=Path(state) / "dc"))
        cluster.ensure_binaries()
        for _ in range(runs):
            began = time.monotonic()
            info = cluster.up(["edge-a", "edge-b", "edge-c"])
            starts.append(time.monotonic() - began)
            phases.append(info.timings)
            began = time.monotonic()
            cluster.down()
            stops.append(time.monotonic() - began)
    return {
        "runs": runs,
        "start_seconds": starts,
        "start_median": statistics.median(starts),
        "start_max": max(starts),
        "stop_median": statistics.median(stops),
        "phases_median": {k: statistics.median(p[k] for p in phases) for k in phases[0]},
    }


def cold() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        os.environ["GOMODCACHE"] = str(root / "gomod")
        os.environ["GOCACHE"] = str(root / "gocache")
        settings = DevClusterSettings(cache_dir=root / "cache", use_path=False)
        per_tool: dict[str, float] = {}
        began = time.monotonic()
        for tool in default_tools():
            started = time.monotonic()
            binaries.build(tool, settings, print)
            per_tool[tool.name] = time.monotonic() - started
        total = time.monotonic() - began
        # The module cache is read-only by design; make it removable.
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=False)
        shutil.rmtree(root, ignore_errors=True)
    return {"total_seconds": total, "per_tool_seconds": per_tool}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--warm", type=int, default=0, help="warm start/stop cycles")
    parser.add_argument("--cold", action="store_true", help="build everything from empty caches")
    args = parser.parse_args()
    result: dict[str, object] = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}
    if args.warm:
        result["warm"] = warm(args.warm)
    if args.cold:
        result["cold"] = cold()
    RESULTS.mkdir(exist_ok=True)
    name = "devcluster-" + "-".join(k for k in ("warm", "cold") if k in result) + ".json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
