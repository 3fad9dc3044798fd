"""Which trace sets ship with the package, and a cache for the ones made on demand.

Shipped: the 816 EUA users for 30 minutes (seed 1: what the demo's devices and the policies'
tuning use; 1.9 MB) and a tiny set for tests (seed 7). Everything else (other seeds, 10 times
the users) is made by SUMO when first asked for and kept in the user's cache directory
(`$XDG_CACHE_HOME/mec-orchestrator/traces`, keyed by the parameters and the SUMO version):
shipping them would add megabytes to every clone for what seconds of SUMO remake.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mec_devtools.sim.traces.generate import generate_sumo, sumo_version
from mec_devtools.sim.traces.model import TraceSet, load_traces


@dataclass(frozen=True, slots=True)
class TraceSpec:
    devices: int
    duration_s: int
    seed: int

    @property
    def name(self) -> str:
        return f"hoddle-{self.devices}-s{self.seed}"


DEMO = TraceSpec(816, 1800, 1)
TINY = TraceSpec(40, 300, 7)
SHIPPED = (DEMO, TINY)


def shipped_dir() -> Path:
    return Path(str(resources.files("mec_devtools.sim").joinpath("datasets", "traces")))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mec-orchestrator" / "traces"


def sumo_traces(spec: TraceSpec) -> TraceSet:
    """The SUMO trace set of spec: shipped, cached, or made now (and cached)."""
    if spec in SHIPPED:
        return load_traces(shipped_dir() / f"{spec.name}.npz")
    path = cache_dir() / f"{spec.name}-{spec.duration_s}s-sumo{sumo_version()}.npz"
    if path.is_file():
        return load_traces(path)
    traces = generate_sumo(spec.devices, spec.duration_s, spec.seed)
    partial = path.with_suffix(".part")
    traces.save(partial)
    partial.replace(path)
    return traces
