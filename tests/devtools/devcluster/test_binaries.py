"""How binaries are found and how wrapper modules are written (no Go build involved)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mec_devtools.devcluster import binaries
from mec_devtools.devcluster.errors import MissingPrerequisiteError
from mec_devtools.devcluster.settings import DevClusterSettings
from mec_devtools.devcluster.versions import etcd_tool, kubernetes_tool, staging_version

UPSTREAM_GOMOD = """module k8s.io/kubernetes

go 1.26.0

require (
\tk8s.io/api v0.0.0
\tgithub.com/spf13/cobra v1.10.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // a comment
\tgithub.com/some/fork => github.com/other/fork v1.2.3
)

replace go.etcd.io/etcd/api/v3 v3.6.0 => ../api
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""


def test_local_replaces_are_the_staging_and_sibling_modules_only() -> None:
    assert binaries.local_replaces(UPSTREAM_GOMOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "go.etcd.io/etcd/api/v3",
    ]


def test_wrapper_gomod_pins_every_staging_module_to_its_published_version() -> None:
    tool = kubernetes_tool("v1.36.3")
    text = binaries.wrapper_gomod(tool, ["k8s.io/api", "k8s.io/client-go"])
    assert "require k8s.io/kubernetes v1.36.3" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in text
    assert "\tk8s.io/client-go => k8s.io/client-go v0.36.3" in text


def test_staging_version_maps_minor_and_patch() -> None:
    assert staging_version("v1.36.3") == "v0.36.3"
    with pytest.raises(ValueError, match="unexpected Kubernetes version"):
        staging_version("v2.0.0")


def _fake_binary(directory: Path, name: str, prints: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{prints}'\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_bin_dir_is_used_first_when_the_version_matches(tmp_path: Path) -> None:
    settings = DevClusterSettings(
        cache_dir=tmp_path / "cache", bin_dir=tmp_path / "bin", use_path=False
    )
    _fake_binary(tmp_path / "bin", "etcd", "etcd Version: 3.6.8\nGit SHA: x")
    found = binaries.locate(etcd_tool("v3.6.8"), settings)
    assert found is not None
    assert found.paths["etcd"] == (tmp_path / "bin" / "etcd").resolve()
    assert found.source == "bin-dir"


def test_a_binary_of_another_version_is_not_used(tmp_path: Path) -> None:
    settings = DevClusterSettings(
        cache_dir=tmp_path / "cache", bin_dir=tmp_path / "bin", use_path=False
    )
    _fake_binary(tmp_path / "bin", "etcd", "etcd Version: 3.6.80")  # 3.6.8 is only a prefix
    assert binaries.locate(etcd_tool("v3.6.8"), settings) is None
    cached = binaries.cache_dir_for(etcd_tool("v3.6.8"), settings)
    _fake_binary(cached, "etcd", "anything")  # the cache is keyed by version: trusted
    found = binaries.locate(etcd_tool("v3.6.8"), settings)
    assert found is not None
    assert found.source == "cache"


def test_missing_go_is_one_clear_sentence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no go here
    with pytest.raises(MissingPrerequisiteError) as missing:
        binaries.go_executable()
    message = str(missing.value)
    assert message.startswith("Go is needed to build the local control plane")
    assert "MEC_DEVCLUSTER_BIN_DIR" in message


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MEC_DEVCLUSTER_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("MEC_DEVCLUSTER_EDGE_HOSTS", "7")
    settings = DevClusterSettings()
    assert settings.bin_cache_dir == tmp_path / "c" / "bin"
    assert settings.edge_hosts == 7
    assert os.environ["MEC_DEVCLUSTER_EDGE_HOSTS"] == "7"
