"""Kubernetes JSON schemas laid out for kubeconform, offline, from the kubernetes-validate wheel.

The wheel (PyPI `kubernetes-validate`, a `[dev]` dependency) ships, per Kubernetes minor,
`kubernetes_validate/kubernetes-json-schema/v1.Y.0-local[-strict]/<kind>-<group>-<version>.json`
plus one `_definitions.json` the kind files refer to as `/api/_definitions.json#/$defs/...`, under
`$id`s on https://kubernetes.io/. kubeconform resolves such a reference against the `$id`, i.e.
over the network. So the files are copied once into the cache with each reference made relative
(`_definitions.json#/$defs/...`) and the `$id`s dropped: every reference then resolves to the
sibling file.

The directory is laid out as kubeconform's default template for a bare `-schema-location DIR`
expects, `DIR/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/
{{ .ResourceKind }}{{ .KindSuffix }}.json`, for `master` (kubeconform's default
`-kubernetes-version`), the pinned Kubernetes version and its `.0`:

    schemas="$(mec-orchestrator devcluster path kubernetes-schemas)"
    kubeconform -strict -schema-location "$schemas" deployment.yaml
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from mec_devtools.devcluster.binaries import locked
from mec_devtools.devcluster.errors import MissingPrerequisiteError
from mec_devtools.devcluster.settings import DevClusterSettings
from mec_devtools.devcluster.versions import KUBERNETES_VERSION

WHEEL = "kubernetes-validate"
_ABSOLUTE_DEFINITIONS = '"/api/_definitions.json#'
_RELATIVE_DEFINITIONS = '"_definitions.json#'


def wheel_version() -> str:
    try:
        return importlib.metadata.version(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise MissingPrerequisiteError(
            f"the Kubernetes JSON schemas come from the Python package {WHEEL!r}, which is not "
            "installed: run scripts/bootstrap.sh (it is in the [dev] extra) or "
            f"pip install {WHEEL}"
        ) from None


def minor_of(kubernetes_version: str) -> str:
    """`v1.36.3` -> `v1.36.0`: the wheel keeps one schema set per minor."""
    parts = kubernetes_version.lstrip("v").split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not a Kubernetes version: {kubernetes_version!r}")
    return f"v{parts[0]}.{parts[1]}.0"


def wheel_schema_dir(kubernetes_version: str, strict: bool) -> Path:
    """The wheel's directory of schemas for that Kubernetes minor (strict: no unknown fields)."""
    wheel_version()
    root = Path(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))
    name = f"{minor_of(kubernetes_version)}-local" + ("-strict" if strict else "")
    directory = root / name
    if not (directory / "_definitions.json").is_file():
        have = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        raise MissingPrerequisiteError(
            f"{WHEEL} {wheel_version()} has no schemas for Kubernetes "
            f"{minor_of(kubernetes_version)} (it has: {', '.join(have) or 'none'})"
        )
    return directory


def localized(text: str) -> str:
    """One schema file with its `$id` dropped and its definitions reference made relative."""
    document = json.loads(text.replace(_ABSOLUTE_DEFINITIONS, _RELATIVE_DEFINITIONS))
    if isinstance(document, dict):
        document.pop("$id", None)
    return json.dumps(document, separators=(",", ":"))


def schema_root(settings: DevClusterSettings | None = None) -> Path:
    settings = settings or DevClusterSettings()
    return settings.cache_dir / "kubernetes-schemas" / f"{WHEEL}-{wheel_version()}"


def version_names(kubernetes_version: str) -> tuple[str, ...]:
    """Names under which kubeconform may ask for the schemas (NormalizedKubernetesVersion)."""
    names = ["master", minor_of(kubernetes_version), "v" + kubernetes_version.lstrip("v")]
    return tuple(dict.fromkeys(names))


def ensure_schemas(
    settings: DevClusterSettings | None = None, kubernetes_version: str = KUBERNETES_VERSION
) -> Path:
    """The directory to give kubeconform's `-schema-location` (written once, then cached)."""
    root = schema_root(settings)
    names = version_names(kubernetes_version)
    wanted = [f"{n}-standalone{s}" for n in names for s in ("", "-strict")]
    if all((root / w / "_definitions.json").is_file() for w in wanted):
        return root
    with locked(root.parent / f".{root.name}.lock"):
        if not all((root / w / "_definitions.json").is_file() for w in wanted):
            _write(root, names, kubernetes_version)
    return root


def _write(root: Path, names: tuple[str, ...], kubernetes_version: str) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".schemas-", dir=root.parent))
    try:
        for strict in (False, True):
            suffix = "-strict" if strict else ""
            real = staging / f"{minor_of(kubernetes_version)}-standalone{suffix}"
            real.mkdir()
            for source in wheel_schema_dir(kubernetes_version, strict).glob("*.json"):
                (real / source.name).write_text(localized(source.read_text()))
            for name in names:
                link = staging / f"{name}-standalone{suffix}"
                if link != real:
                    link.symlink_to(real.name)
        if root.exists():  # an incomplete earlier copy
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
