"""The handover crash matrix, repeated: how often each case holds, and how long it takes to heal.

    python -m bench.handover_crashes --repeat 5

Runs `tests/agents/test_handover_crashes.py` (every crash of every component at every step,
with a device writing throughout; see its docstring) `--repeat` times, each in a fresh pytest
process, and tallies per case: passes, failures, and the times its CRASH line reports (device
applied again after the crash; agents ended the handover). Writes a JSON file under
bench/results/ and prints a Markdown table (docs/benchmarks.md quotes it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TEST = "tests/agents/test_handover_crashes.py"
_CRASH = re.compile(
    r"^(?:CRASH|STALL) (?P<case>\S+ x \S+) .*?device applied again after "
    r"(?P<applied>never|[\d.]+ s).*?agents ended after (?P<ended>never|[\d.]+ s)",
    re.MULTILINE,
)
_RESULT = re.compile(r"^(?P<outcome>PASSED|FAILED) (?P<test>tests/\S+::\S+)", re.MULTILINE)


def _seconds(text: str) -> float | None:
    return None if text == "never" else float(text.removesuffix(" s"))


def run_once(python: str) -> tuple[dict[str, str], dict[str, tuple[float | None, float | None]]]:
    """(test id -> PASSED/FAILED, case -> (applied again s, agents ended s)) of one run."""
    done = subprocess.run(
        [python, "-m", "pytest", TEST, "-p", "no:randomly", "-rA", "-s", "-q"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    text = done.stdout + done.stderr
    outcomes = {m["test"]: m["outcome"] for m in _RESULT.finditer(text)}
    times = {
        m["case"]: (_seconds(m["applied"]), _seconds(m["ended"])) for m in _CRASH.finditer(text)
    }
    return outcomes, times


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} / {max(values):.2f}" if values else "-"


def _loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started, load_start = time.time(), _loadavg()
    outcomes: dict[str, list[str]] = defaultdict(list)
    applied: dict[str, list[float]] = defaultdict(list)
    ended: dict[str, list[float]] = defaultdict(list)
    never: dict[str, int] = defaultdict(int)
    for round_ in range(args.repeat):
        results, times = run_once(sys.executable)
        for test, outcome in results.items():
            outcomes[test].append(outcome)
        for case, (again, end) in times.items():
            if again is None:
                never[case] += 1
            else:
                applied[case].append(again)
            if end is not None:
                ended[case].append(end)
        failed = sum(o == "FAILED" for o in results.values())
        print(f"round {round_ + 1}/{args.repeat}: {len(results)} tests, {failed} failed")
    rows = []
    print(
        "\n| case | runs | applied again p50 / max s | agents ended p50 / max s | never applied |"
    )
    print("|---|---:|---:|---:|---:|")
    for case in sorted(set(applied) | set(ended) | set(never)):
        a, e = applied.get(case, []), ended.get(case, [])
        row = {
            "case": case,
            "applied_again_s": a,
            "agents_ended_s": e,
            "never_applied": never.get(case, 0),
        }
        rows.append(row)
        lost = never.get(case, 0)
        print(f"| {case} | {len(a) + lost} | {_spread(a)} | {_spread(e)} | {lost} |")
    failures = {t: o.count("FAILED") for t, o in outcomes.items() if "FAILED" in o}
    runs = sum(len(o) for o in outcomes.values())
    print(f"\n{runs} test runs, {sum(failures.values())} failed: {failures or 'none'}")
    summary = {
        "command": f"python -m bench.handover_crashes --repeat {args.repeat}",
        "started": dt.datetime.fromtimestamp(started, dt.UTC).isoformat(),
        "seconds": round(time.time() - started, 1),
        "load_start": load_start,
        "load_end": _loadavg(),
        "python": platform.python_version(),
        "cases": rows,
        "failures": failures,
        "test_runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"handover-crashes-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2))
    print(f"load average {load_start} -> {_loadavg()}; results: {out}")


if __name__ == "__main__":
    main()
