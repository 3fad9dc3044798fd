"""Helpers for the chart's tests: the chart's path, the cached helm, rendering with values."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mec_devtools.devcluster import DevClusterSettings, binaries
from mec_devtools.devcluster.versions import KUBERNETES_VERSION, helm_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "mec-orchestrator"
RELEASE = "mec"
NAMESPACE = "mec-system"


def helm_binary() -> Path:
    return binaries.ensure((helm_tool(),), DevClusterSettings())["helm"]


def helm(
    *args: str, env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(helm_binary()), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def set_args(values: Mapping[str, str]) -> list[str]:
    return [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]


def render_text(values: Mapping[str, str] | None = None, *extra: str) -> str:
    done = helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBERNETES_VERSION,
        *set_args(values or {}),
        *extra,
    )
    return done.stdout


def render(values: Mapping[str, str] | None = None, *extra: str) -> list[dict[str, Any]]:
    """The chart's objects (tests included) as helm template renders them."""
    return [doc for doc in yaml.safe_load_all(render_text(values, *extra)) if doc]


def of_kind(objects: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]


def pod_specs(objects: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload and bare pod."""
    found: list[tuple[str, dict[str, Any]]] = []
    for obj in objects:
        if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            found.append((obj["metadata"]["name"], obj["spec"]["template"]["spec"]))
        elif obj.get("kind") == "Pod":
            found.append((obj["metadata"]["name"], obj["spec"]))
    return found
