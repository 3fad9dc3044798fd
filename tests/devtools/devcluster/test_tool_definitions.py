"""The datastore choice, the kine and chart-gate tool definitions, the helm-unittest plugin layout
and the schema localization: the pure parts, without a Go build or a cluster.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mec_devtools.devcluster import binaries, helm_plugins, schemas
from mec_devtools.devcluster.cluster import ClusterInfo, DevCluster, Ports, components
from mec_devtools.devcluster.errors import DevClusterError
from mec_devtools.devcluster.processes import ProcessRecord
from mec_devtools.devcluster.settings import DATASTORES, DevClusterSettings
from mec_devtools.devcluster.versions import (
    default_tools,
    etcd_tool,
    helm_unittest_tool,
    kine_tool,
    kubeconform_tool,
)


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


def test_the_wrapper_repeats_upstream_replaces_by_a_fork() -> None:
    text = binaries.wrapper_gomod(helm_unittest_tool(), [])
    assert "require github.com/helm-unittest/helm-unittest v1.1.2" in text
    assert (
        "\tgithub.com/vmware-labs/yaml-jsonpath => github.com/helm-unittest/yaml-jsonpath v0.4.0"
    ) in text


def _fake_binary(directory: Path, name: str, prints: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{prints}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_a_tool_that_cannot_tell_its_version_comes_only_from_a_complete_cache(
    tmp_path: Path,
) -> None:
    tool = helm_unittest_tool()
    settings = DevClusterSettings(cache_dir=tmp_path / "cache", bin_dir=tmp_path / "bin")
    _fake_binary(tmp_path / "bin", "untt", "1.1.2")  # might be any version: not used
    assert binaries.locate(tool, settings) is None
    cached = binaries.cache_dir_for(tool, settings)
    _fake_binary(cached, "untt", "")
    assert binaries.locate(tool, settings) is None  # plugin.yaml missing: incomplete
    (cached / "plugin.yaml").write_text("name: unittest\n")
    found = binaries.locate(tool, settings)
    assert found is not None
    assert found.source == "cache"


def test_kubeconform_reports_its_version_with_dash_v(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path, "kubeconform", "v0.8.0")
    assert kubeconform_tool().version_flag == ("-v",)
    assert binaries.has_version(binary, kubeconform_tool())


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


PLUGIN_YAML = """
name: unittest
platformCommand:
  - os: linux
    arch: amd64
    command: "$HELM_PLUGIN_DIR/untt-linux-amd64"
  - os: linux
    command: "$HELM_PLUGIN_DIR/untt-linux-any"
  - command: "$HELM_PLUGIN_DIR/untt-anywhere"
  - os: windows
    arch: amd64
    command: "$HELM_PLUGIN_DIR\\\\untt-windows-amd64.exe"
"""


def test_the_plugin_file_is_chosen_in_helms_order() -> None:
    assert helm_plugins.platform_command_file(PLUGIN_YAML, "linux", "amd64") == "untt-linux-amd64"
    assert helm_plugins.platform_command_file(PLUGIN_YAML, "linux", "arm64") == "untt-linux-any"
    assert helm_plugins.platform_command_file(PLUGIN_YAML, "darwin", "arm64") == "untt-anywhere"
    with pytest.raises(DevClusterError, match="expected"):
        helm_plugins.platform_command_file(PLUGIN_YAML, "windows", "amd64")
    with pytest.raises(DevClusterError, match="no platformCommand for plan9/386"):
        helm_plugins.platform_command_file(
            "platformCommand: [{os: linux, command: x}]", "plan9", "386"
        )


def test_the_plugin_directory_is_the_projects_own(tmp_path: Path) -> None:
    settings = DevClusterSettings(cache_dir=tmp_path / "cache")
    directory = helm_plugins.plugins_dir(settings)
    assert directory == tmp_path / "cache" / "helm-plugins" / "helm-unittest-v1.1.2"
    assert ".local/share/helm" not in str(directory)


@given(
    name=st.from_regex(r"io\.k8s\.[a-z]+\.v1\.[A-Z][a-zA-Z]{0,12}", fullmatch=True),
    nested=st.booleans(),
)
def test_localized_schemas_refer_to_the_sibling_definitions_file(name: str, nested: bool) -> None:
    ref = {"$ref": f"/api/_definitions.json#/$defs/{name}"}
    document = {
        "$id": "https://kubernetes.io/api/deployment/apps/v1",
        "properties": {"spec": {"items": ref} if nested else ref},
    }
    out = json.loads(schemas.localized(json.dumps(document)))
    assert "$id" not in out
    assert "/api/" not in json.dumps(out)
    inner = out["properties"]["spec"]["items"] if nested else out["properties"]["spec"]
    assert inner == {"$ref": f"_definitions.json#/$defs/{name}"}
    assert schemas.localized(schemas.localized(json.dumps(document))) == schemas.localized(
        json.dumps(document)
    )


def test_schema_versions_and_bad_versions() -> None:
    assert schemas.minor_of("v1.36.3") == "v1.36.0"
    assert schemas.version_names("v1.36.3") == ("master", "v1.36.0", "v1.36.3")
    assert schemas.version_names("v1.36.0") == ("master", "v1.36.0")
    with pytest.raises(ValueError, match="not a Kubernetes version: 'latest'"):
        schemas.minor_of("latest")


def _write_state(state_dir: Path, datastore: str, pid: int, executable: str) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    info = _info(datastore, pid, 2000)
    record = ProcessRecord(datastore, pid, executable, (executable,), "log")
    data = replace(info, state_dir=state_dir, processes=(record,)).to_json()
    (state_dir / "state.json").write_text(json.dumps(data))


def test_the_demo_prefers_kine_unless_told_or_already_running(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MEC_DEVCLUSTER_DATASTORE", raising=False)
    monkeypatch.setenv("MEC_DEVCLUSTER_STATE_DIR", str(tmp_path / "state"))
    assert DevCluster.preferring("kine").datastore == "kine"
    assert DevCluster().datastore == "etcd"  # the default elsewhere (tests, `devcluster up`)

    monkeypatch.setenv("MEC_DEVCLUSTER_DATASTORE", "etcd")
    assert DevCluster.preferring("kine").datastore == "etcd"
    monkeypatch.delenv("MEC_DEVCLUSTER_DATASTORE")

    alive = str(Path(f"/proc/{os.getpid()}/exe").readlink())
    _write_state(tmp_path / "state", "etcd", os.getpid(), alive)  # a running etcd cluster
    assert DevCluster.preferring("kine").datastore == "etcd"
    _write_state(tmp_path / "state", "etcd", os.getpid(), "/not/this/binary")  # a dead one
    assert DevCluster.preferring("kine").datastore == "kine"
