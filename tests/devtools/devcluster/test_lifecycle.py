"""The devcluster CLI from a shell: up is idempotent, status tells the truth, down leaves nothing.

A second, separate control plane (its own state directory and ports) is started here so the
session's shared one is not disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mec_devtools.devcluster import processes
from mec_devtools.devcluster.cluster import ClusterInfo, Ports

CLI = [sys.executable, "-m", "mec_orchestrator", "devcluster"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "state"
    yield directory
    subprocess.run([*CLI, "down"], env=_env(directory), capture_output=True, check=False)


def _env(state_dir: Path) -> dict[str, str]:
    return {**os.environ, "MEC_DEVCLUSTER_STATE_DIR": str(state_dir)}


def _cli(state_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CLI, *args], env=_env(state_dir), capture_output=True, text=True, check=False, timeout=180
    )
    if check and done.returncode != 0:  # say why, with the component logs' tails
        logs = sorted((state_dir / "logs").glob("*.log")) if (state_dir / "logs").exists() else []
        tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-800:]}" for p in logs)
        raise AssertionError(f"{args} exited {done.returncode}: {done.stderr[-2000:]}\n{tails}")
    return done


def test_the_ports_of_a_cluster_are_distinct() -> None:
    for _ in range(200):
        ports = Ports.pick()
        chosen = [getattr(ports, name) for name in ports.__dataclass_fields__]
        assert len(set(chosen)) == len(chosen) == 6


def _info(state_dir: Path) -> ClusterInfo:
    return ClusterInfo.from_json(json.loads((state_dir / "state.json").read_text()))


def test_up_status_env_down_from_the_command_line(state_dir: Path) -> None:
    first = _cli(state_dir, "up", "--host", "solo")
    assert "edge hosts   solo" in first.stdout
    info = _info(state_dir)
    pids = {p.name: p.pid for p in info.processes}
    assert set(pids) == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    }

    status = json.loads(_cli(state_dir, "status", "--json").stdout)
    assert set(status["components"].values()) == {"healthy"}

    again = _cli(state_dir, "up", "--host", "solo")  # idempotent: the same processes
    assert "already running" in again.stderr
    assert {p.name: p.pid for p in _info(state_dir).processes} == pids

    env = _cli(state_dir, "env").stdout
    assert f"export KUBECONFIG={state_dir.resolve() / 'kubeconfig'}" in env

    down = _cli(state_dir, "down")
    assert (
        "stopped: kwok, kube-scheduler, kube-controller-manager, kube-apiserver, etcd"
        in down.stdout
    )
    for record in info.processes:
        assert not processes.is_running(record)
        assert processes.group_members(record.pid) == []  # nothing the component started is left
    after = _cli(state_dir, "status", check=False)
    assert after.returncode == 1
    assert "no control plane is running" in after.stdout


def test_a_killed_component_is_reported_and_up_replaces_the_cluster(state_dir: Path) -> None:
    _cli(state_dir, "up", "--edge-hosts", "1")
    before = _info(state_dir)
    scheduler = next(p for p in before.processes if p.name == "kube-scheduler")
    os.kill(scheduler.pid, signal.SIGKILL)

    status = _cli(state_dir, "status", check=False)
    assert status.returncode == 1
    assert "kube-scheduler" in status.stdout
    assert "stopped" in status.stdout

    _cli(state_dir, "up", "--edge-hosts", "1")
    after = _info(state_dir)
    assert after.ports != before.ports
    for record in before.processes:
        assert not processes.is_running(record)
    assert (
        json.loads(_cli(state_dir, "status", "--json").stdout)["components"]["kube-scheduler"]
        == "healthy"
    )
