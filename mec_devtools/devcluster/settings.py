"""Configuration of the local control plane, from the environment (prefix MEC_DEVCLUSTER_)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Datastore = Literal["etcd", "kine"]
DATASTORES: tuple[Datastore, ...] = get_args(Datastore)


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mec-orchestrator"


class DevClusterSettings(BaseSettings):
    """Where binaries are cached and found, where a cluster keeps its state, how it is shaped."""

    model_config = SettingsConfigDict(env_prefix="MEC_DEVCLUSTER_", frozen=True)

    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Binaries are built once per version and kept here.",
    )
    bin_dir: Path | None = Field(
        default=None,
        description="A directory of ready binaries, used before PATH and the cache.",
    )
    use_path: bool = Field(
        default=True, description="Use binaries found on PATH when their version matches."
    )
    state_dir: Path = Field(
        default=Path(".devcluster"),
        description="Certificates, kubeconfig, etcd data, logs and PIDs of a running cluster.",
    )
    datastore: Datastore = Field(
        default="etcd",
        description="What stores the cluster's objects: etcd, or kine over SQLite (k3s's).",
    )
    edge_hosts: int = Field(
        default=3, ge=0, le=500, description="How many kwok nodes (edge hosts) `up` creates."
    )
    start_timeout_seconds: float = Field(default=60.0, gt=0)

    @property
    def bin_cache_dir(self) -> Path:
        return self.cache_dir / "bin"

    @property
    def build_dir(self) -> Path:
        return self.cache_dir / "build"

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir.resolve() / "kubeconfig"
