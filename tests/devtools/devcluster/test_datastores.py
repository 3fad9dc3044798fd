"""The same control-plane checks on both datastores: etcd, and kine over SQLite (k3s's).

`control_plane` (etcd) and `kine_control_plane` (kine) are the session's two clusters; each test
here runs on both. The kine cluster's own life (up, idempotent up, a restart that keeps the data,
down) is checked on a third, private cluster started from the command line.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from mec_devtools.devcluster import DevCluster, DevClusterSettings, processes
from mec_devtools.devcluster.cluster import ClusterInfo, admin_client, components
from tests.conftest import repo_root, run_kubectl

CLI = [sys.executable, "-m", "mec_orchestrator", "devcluster"]


@pytest.fixture(params=["etcd", "kine"])
def cluster(request: pytest.FixtureRequest) -> ClusterInfo:
    name = "control_plane" if request.param == "etcd" else "kine_control_plane"
    info: ClusterInfo = request.getfixturevalue(name)
    assert info.datastore == request.param
    return info


def _kubectl(info: ClusterInfo, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(info.binaries["kubectl"]), "--kubeconfig", str(info.kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_the_api_server_stores_in_the_clusters_datastore(cluster: ClusterInfo) -> None:
    names = [record.name for record in cluster.processes]
    assert names == list(components(cluster.datastore))
    assert set(
        DevCluster(DevClusterSettings(state_dir=cluster.state_dir))
        .component_health(cluster)
        .values()
    ) == {"healthy"}
    apiserver = next(r for r in cluster.processes if r.name == "kube-apiserver")
    assert f"--etcd-servers={cluster.etcd_url}" in apiserver.argv
    store = next(r for r in cluster.processes if r.name == cluster.datastore)
    assert Path(store.executable).name == cluster.datastore
    if cluster.datastore == "kine":
        assert cluster.kine_database.is_file()
        assert f"--listen-address=127.0.0.1:{cluster.ports.etcd_client}" in store.argv
    else:
        assert not cluster.kine_database.exists()


def test_the_projects_crds_apply_and_serve_their_objects(cluster: ClusterInfo) -> None:
    crds = repo_root() / "crds"
    files = ["-f", str(crds), "-f", str(crds / "peering")]
    _kubectl(cluster, "apply", "--server-side", "--force-conflicts", *files)
    _kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s", *files)
    zone = next(
        doc
        for doc in yaml.safe_load_all((repo_root() / "examples" / "zones.yaml").read_text())
        if doc
    )
    name = f"t-{uuid.uuid4().hex[:10]}"
    zone["metadata"] = {"name": name}
    # Discovery may lag Established by a moment: retry the apply briefly.
    for _ in range(60):
        applied = subprocess.run(
            [
                str(cluster.binaries["kubectl"]),
                "--kubeconfig",
                str(cluster.kubeconfig),
                "apply",
                "--server-side",
                "-f",
                "-",
            ],
            input=json.dumps(zone),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if applied.returncode == 0:
            break
        run_kubectl(cluster, "get", "zones")  # let discovery refresh
    assert applied.returncode == 0, applied.stderr
    try:
        stored = json.loads(
            _kubectl(cluster, "get", "zone", name, "-o", "json", "--show-managed-fields")
        )
        assert stored["spec"]["accessPoints"] == zone["spec"]["accessPoints"]
        assert stored["metadata"]["managedFields"][0]["operation"] == "Apply"
    finally:
        _kubectl(cluster, "delete", "zone", name, "--wait=true")


def _events(lines: Iterator[str], count: int) -> list[tuple[str, str, str]]:
    seen: list[tuple[str, str, str]] = []
    for line in lines:
        if not line.strip():
            continue
        event = json.loads(line)
        obj = event["object"]
        seen.append((event["type"], obj["metadata"]["name"], json.dumps(obj.get("data", {}))))
        if len(seen) == count:
            break
    return seen


def test_a_watch_delivers_added_modified_deleted_in_order(cluster: ClusterInfo) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    with admin_client(cluster, timeout=30.0) as api:
        api.post("/api/v1/namespaces", json={"metadata": {"name": namespace}}).raise_for_status()
        try:
            base = f"/api/v1/namespaces/{namespace}/configmaps"
            version = api.get(base).json()["metadata"]["resourceVersion"]
            params = {
                "watch": "true",
                "resourceVersion": version,
                "timeoutSeconds": "30",
                # not kube-root-ca.crt, which the controller manager adds to new namespaces
                "fieldSelector": "metadata.name=cm",
            }
            with api.stream("GET", base, params=params) as watch:
                assert watch.status_code == 200
                api.post(base, json={"metadata": {"name": "cm"}, "data": {"v": "1"}})
                api.patch(
                    f"{base}/cm",
                    json={"data": {"v": "2"}},
                    headers={"Content-Type": "application/merge-patch+json"},
                ).raise_for_status()
                api.delete(f"{base}/cm").raise_for_status()
                seen = _events(watch.iter_lines(), 3)
        finally:
            api.delete(f"/api/v1/namespaces/{namespace}")
    assert seen == [
        ("ADDED", "cm", '{"v": "1"}'),
        ("MODIFIED", "cm", '{"v": "2"}'),
        ("DELETED", "cm", '{"v": "2"}'),
    ]


# -- a private kine cluster, from the command line ---------------------------------------------


def _cli(state_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MEC_DEVCLUSTER_STATE_DIR": str(state_dir)}
    env.pop("MEC_DEVCLUSTER_DATASTORE", None)
    done = subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, check=False, timeout=180
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{args} exited {done.returncode}: {done.stderr[-2000:]}")
    return done


@pytest.fixture
def kine_state_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "kine-state"
    yield directory
    _cli(directory, "down", check=False)


def test_kine_cluster_up_restart_keeps_objects_down_leaves_nothing(kine_state_dir: Path) -> None:
    first = _cli(kine_state_dir, "up", "--datastore", "kine", "--edge-hosts", "1")
    assert "datastore    kine" in first.stdout
    info = ClusterInfo.from_json(json.loads((kine_state_dir / "state.json").read_text()))
    assert info.datastore == "kine"

    again = _cli(kine_state_dir, "up", "--datastore", "kine", "--edge-hosts", "1")
    assert "already running" in again.stderr
    other = _cli(kine_state_dir, "up", "--datastore", "etcd", check=False)
    assert other.returncode != 0
    assert "a control plane on kine is already running" in other.stderr
    status = json.loads(_cli(kine_state_dir, "status", "--json").stdout)
    assert status["datastore"] == "kine"
    assert set(status["components"]) == set(components("kine"))
    assert set(status["components"].values()) == {"healthy"}
    env = _cli(kine_state_dir, "env").stdout
    assert f"export KUBECONFIG={kine_state_dir.resolve() / 'kubeconfig'}" in env
    assert "export HELM_PLUGINS=" in env

    _kubectl(info, "create", "configmap", "survivor", "--from-literal=kept=yes")
    restarted = DevCluster(DevClusterSettings(state_dir=kine_state_dir)).restart(
        "kine", "kube-apiserver"
    )
    old = {r.name: r.pid for r in info.processes}
    new = {r.name: r.pid for r in restarted.processes}
    assert new["kine"] != old["kine"]
    assert new["kube-apiserver"] != old["kube-apiserver"]
    assert new["kwok"] == old["kwok"]
    kept = json.loads(_kubectl(restarted, "get", "configmap", "survivor", "-o", "json"))
    assert kept["data"] == {"kept": "yes"}

    down = _cli(kine_state_dir, "down")
    assert "stopped: kwok, kube-scheduler, kube-controller-manager, kube-apiserver, kine" in (
        down.stdout
    )
    for record in restarted.processes:
        assert not processes.is_running(record)
        assert processes.group_members(record.pid) == []
    assert restarted.kine_database.is_file()  # the data outlives the processes
    for port in (restarted.ports.apiserver, restarted.ports.etcd_client):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2.0).close()
