"""`devcluster up` tells how to reach the cluster it started, wherever its state directory is.

No control plane is started: `DevCluster.up` is replaced by one that returns what a real `up`
writes down (state.json in the state directory), which is all `devcluster env` reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mec_devtools.devcluster import cli
from mec_devtools.devcluster.cluster import ClusterInfo, DevCluster, Ports

HINT_PREFIX = "use it:      "
TAIL = " && kubectl get nodes"


def _started_cluster(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> ClusterInfo:
    """A cluster as `up` leaves it on disk, and `DevCluster.up` answering with it."""
    info = ClusterInfo(
        state_dir=state_dir.resolve(),
        ports=Ports(2379, 2380, 6443, 10257, 10259, 10247),
        binaries={"kubectl": Path("/opt/devcluster/bin/kubectl")},
        processes=(),
        edge_host_nodes=("solo",),
        started_in_seconds=0.5,
    )
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "state.json").write_text(json.dumps(info.to_json()))

    def up(self: DevCluster, edge_hosts: list[str] | None = None) -> ClusterInfo:
        assert self.state_dir == info.state_dir  # `up` works on the directory it was given
        return info

    monkeypatch.setattr(DevCluster, "up", up)
    return info


def _shell_env() -> dict[str, str]:
    """A shell of someone who reads the hint: no state directory, no cluster configured."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"MEC_DEVCLUSTER_STATE_DIR", "KUBECONFIG", "PYTHONPATH"}
    }
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def test_up_prints_a_hint_that_reads_the_cluster_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "my clusters" / "second"  # a space: the hint must quote it
    info = _started_cluster(state_dir, monkeypatch)
    result = CliRunner().invoke(
        cli.devcluster, ["up"], env={"MEC_DEVCLUSTER_STATE_DIR": str(state_dir)}
    )
    assert result.exit_code == 0, result.output
    (hint,) = [line for line in result.output.splitlines() if line.startswith(HINT_PREFIX)]
    hint = hint.removeprefix(HINT_PREFIX)
    assert hint.endswith(TAIL)

    # Run the hint as printed, from another directory, in a shell without the variable.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = f"set -e; {hint.removesuffix(TAIL)}; printf '%s' \"$KUBECONFIG\""
    shell = subprocess.run(
        ["bash", "-c", script],
        cwd=elsewhere,
        env=_shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == str(info.kubeconfig)
    assert info.kubeconfig == state_dir.resolve() / "kubeconfig"


def test_the_hint_names_a_custom_state_dir_and_not_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    custom = tmp_path / "custom"
    assert str(custom) in cli.env_hint(custom)
    assert "MEC_DEVCLUSTER_STATE_DIR=" in cli.env_hint(Path("custom"))  # made absolute
    assert str(custom) in cli.env_hint(Path("custom"))
    plain = 'eval "$(mec-orchestrator devcluster env)" && kubectl get nodes'
    assert cli.env_hint(Path(".devcluster")) == plain  # the default one needs nothing
    assert cli.env_hint(tmp_path / ".devcluster") == plain


def test_env_reads_the_kubeconfig_of_the_cluster_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state_dir = tmp_path / "custom"
    info = _started_cluster(state_dir, monkeypatch)
    monkeypatch.chdir(tmp_path)  # the default (.devcluster here) has no cluster
    runner = CliRunner()
    chosen = runner.invoke(cli.devcluster, ["env"], env={"MEC_DEVCLUSTER_STATE_DIR": "custom"})
    assert chosen.exit_code == 0, chosen.output
    assert f"export KUBECONFIG={info.kubeconfig}\n" in chosen.output
    assert 'export PATH="/opt/devcluster/bin:$PATH"' in chosen.output

    default = runner.invoke(cli.devcluster, ["env"], env={"MEC_DEVCLUSTER_STATE_DIR": None})
    assert default.exit_code != 0
    assert f"no control plane is running in {tmp_path / '.devcluster'}" in default.output
