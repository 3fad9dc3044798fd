"""The datastore choice and the kine tool definition: the pure parts, without a Go build or a
cluster.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mec_devtools.devcluster import binaries
from mec_devtools.devcluster.cluster import ClusterInfo, Ports, components
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.processes import ProcessRecord
from mec_devtools.devcluster.settings import DATASTORES, DevClusterSettings
from mec_devtools.devcluster.versions import default_tools, etcd_tool, kine_tool


def test_only_kine_is_built_with_cgo(tmp_path: Path) -> None:
    assert kine_tool().cgo
    assert [tool.name for tool in default_tools() if tool.cgo] == ["kine"]
    assert binaries._go_env(tmp_path, cgo=True)["CGO_ENABLED"] == "1"
    assert binaries._go_env(tmp_path)["CGO_ENABLED"] == "0"


def test_a_cgo_build_without_a_c_compiler_is_one_clear_sentence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CC", raising=False)
    with pytest.raises(DevClusterError, match="kine is built with cgo and needs a C compiler"):
        binaries.c_compiler_check(kine_tool())
    binaries.c_compiler_check(etcd_tool())  # no cgo: no compiler needed


def test_the_datastore_setting_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert DevClusterSettings().datastore == "etcd"
    monkeypatch.setenv("MEC_DEVCLUSTER_DATASTORE", "kine")
    assert DevClusterSettings().datastore == "kine"
    monkeypatch.setenv("MEC_DEVCLUSTER_DATASTORE", "zookeeper")
    with pytest.raises(ValidationError, match="datastore"):
        DevClusterSettings()


def test_components_start_with_the_datastore() -> None:
    assert components("etcd")[0] == "etcd"
    assert components("kine") == (
        "kine",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    )


def _info(datastore: str, pid: int, port: int) -> ClusterInfo:
    return ClusterInfo(
        state_dir=Path("/state"),
        ports=Ports(port, port + 1, port + 2, port + 3, port + 4, port + 5),
        binaries={"kubectl": Path("/bin/kubectl")},
        processes=(
            ProcessRecord(datastore, pid, f"/bin/{datastore}", (f"/bin/{datastore}",), "l"),
        ),
        edge_host_nodes=("edge-a",),
        started_in_seconds=1.5,
        timings={datastore: 0.25},
        datastore="kine" if datastore == "kine" else "etcd",
    )


@given(
    datastore=st.sampled_from(DATASTORES),
    pid=st.integers(1, 2**22),
    port=st.integers(1024, 60000),
)
def test_cluster_info_survives_its_json(datastore: str, pid: int, port: int) -> None:
    info = _info(datastore, pid, port)
    assert ClusterInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_a_state_file_from_before_kine_is_an_etcd_cluster() -> None:
    data = json.loads(json.dumps(_info("etcd", 1, 2000).to_json()))
    del data["datastore"]
    assert ClusterInfo.from_json(data).datastore == "etcd"
    data["datastore"] = "zookeeper"
    with pytest.raises(TypeError, match="datastore 'zookeeper'"):
        ClusterInfo.from_json(data)
