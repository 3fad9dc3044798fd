"""Which pods the emulated runtime runs, and where a container's executable is found.

The project's images are not built or pulled: a pod "of a project image" runs the container's
command from the installed project (the console scripts next to the running interpreter). The
image prefix is the one place that decides; kwok's stages (kwok-stages.yaml) spell the same
prefix to leave such pods alone.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_IMAGE_PREFIX = "ghcr.io/mec-orchestrator/"


def is_project_image(image: object) -> bool:
    return isinstance(image, str) and image.startswith(PROJECT_IMAGE_PREFIX)


def containers_of(pod: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pod's containers that are objects (odd entries are skipped)."""
    spec = pod.get("spec")
    containers = spec.get("containers") if isinstance(spec, Mapping) else None
    if not isinstance(containers, list):
        return []
    return [c for c in containers if isinstance(c, dict)]


def is_project_pod(pod: Mapping[str, Any]) -> bool:
    """Whether any container of the pod uses a project image (kwok then leaves the pod alone)."""
    return any(is_project_image(c.get("image")) for c in containers_of(pod))


def interpreter_bin_dir() -> Path:
    """The directory of the running interpreter, where the project's console scripts live."""
    return Path(sys.executable).parent


def resolve_executable(
    name: str, *, bin_dir: Path | None = None, path: str | None = None
) -> str | None:
    """The file to run for command[0]: a path as given, else bin_dir first, then PATH."""
    if not name:
        return None
    if "/" in name:
        return name if os.access(name, os.X_OK) and Path(name).is_file() else None
    first = bin_dir if bin_dir is not None else interpreter_bin_dir()
    candidate = first / name
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name, path=path if path is not None else os.environ.get("PATH", ""))
