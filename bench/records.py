"""Where benchmark runs keep their figures: one timestamped JSON file per run in bench/results/.

The figures in docs/benchmarks.md are copied from these files; the folder is not committed.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def machine() -> str:
    """The CPU model, core count and Python version, for the record of a run."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def save(prefix: str, document: Mapping[str, Any], started: float | None = None) -> Path:
    """Write document to bench/results/<prefix>-<UTC start time>.json; the file's path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{prefix}-{stamp}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
