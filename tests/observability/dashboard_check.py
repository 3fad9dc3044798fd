"""Build `tools/dashboard-check` (Go) once per version of its sources, cache it, and run it.

The cache is the control plane's binary cache (`mec-orchestrator devcluster` settings), keyed
by a hash of go.mod, go.sum and the Go files, so an edit rebuilds it and nothing else does;
concurrent callers build once (a file lock). The build needs Go and the Go module proxy, like
the control plane's binaries.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mec_devtools.devcluster import DevClusterSettings
from mec_devtools.devcluster.binaries import go_executable
from tests.observability.files import DASHBOARD_CHECK


@dataclass(frozen=True)
class Panel:
    """One dashboard panel as the checker decoded it."""

    id: int
    title: str
    type: str
    queries: dict[str, str]  # refId -> PromQL


def sources_digest(directory: Path = DASHBOARD_CHECK) -> str:
    digest = hashlib.sha256()
    for path in sorted([*directory.glob("*.go"), directory / "go.mod", directory / "go.sum"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def binary(settings: DevClusterSettings | None = None) -> Path:
    """The checker's path, built first if this version of its sources has not been."""
    settings = settings or DevClusterSettings()
    target = settings.bin_cache_dir / f"dashboard-check-{sources_digest()}" / "dashboard-check"
    if target.is_file():
        return target
    settings.build_dir.mkdir(parents=True, exist_ok=True)
    with (settings.build_dir / "dashboard-check.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        target.parent.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".dashboard-check-", dir=target.parent.parent))
        try:
            env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly", "GOWORK": "off"}
            done = subprocess.run(
                [go_executable(), "build", "-trimpath", "-o", str(staging / target.name), "."],
                cwd=DASHBOARD_CHECK,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"building tools/dashboard-check failed:\n{done.stderr}")
            staging.rename(target.parent)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
    return target


def check(*dashboards: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary()), *map(str, dashboards)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def panels(dashboard: Path) -> list[Panel]:
    """Every panel of the dashboard with its queries; fails when the checker refuses it."""
    done = check(dashboard)
    if done.returncode != 0:
        raise AssertionError(f"dashboard-check refused {dashboard.name}:\n{done.stderr}")
    (board,) = json.loads(done.stdout)["dashboards"]
    return [
        Panel(
            id=p["id"],
            title=p["title"],
            type=p["type"],
            queries={q["refId"]: q["expr"] for q in p["queries"] or []},
        )
        for p in board["panels"]
    ]


if __name__ == "__main__":  # python -m tests.observability.dashboard_check [FILE.json...]
    import sys

    from tests.observability.files import DASHBOARDS

    files = [Path(a) for a in sys.argv[1:]] or sorted(DASHBOARDS.glob("*.json"))
    done = check(*files)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)
