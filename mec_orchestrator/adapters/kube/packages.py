"""AppPackages in the API server: read, find by id or appDId, create, patch, delete; their content.

The operator reads a package's pod template (`read_app_package`); the REST API (MEC 010-2
`/app_pkgm/v1`) creates packages, writes their onboarding status and keeps the uploaded archive
in ConfigMaps owned by the package (`<package>-content-<i>`, `binaryData.chunk` of at most
768 KiB each, so each stays well under the 1 MiB object limit), and the AppD as JSON
(`<package>-appd`), so all of it goes when the package is deleted (garbage collection).

Writes that depend on what was read carry its resourceVersion, so two clients acting on one
package at once cannot both succeed: the second gets ApiError 409.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.patterns import IDENTIFIER
from mec_common.rbac import PolicyRule
from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.decisions.packages.names import app_d_id_label, is_package_name
from mec_orchestrator.model import GROUP, VERSION
from mec_orchestrator.model.apppackage import APP_D_ID_LABEL, PACKAGE_LABEL

REQUIRED_RULES: tuple[PolicyRule, ...] = (
    PolicyRule(
        (GROUP,),
        ("apppackages",),
        ("get", "list", "watch", "create", "update", "patch", "delete"),
        scope="cluster",
    ),
    PolicyRule((GROUP,), ("apppackages/status",), ("get", "patch", "update"), scope="cluster"),
    PolicyRule(
        ("",), ("configmaps",), ("get", "list", "create", "update", "delete"), scope="cluster"
    ),
)
"""MEC 010-2 packages are AppPackages; their bytes are ConfigMaps owned by them, in the
packages' namespaces."""


PLURAL = "apppackages"
EDGEAPPS = "edgeapps"
CHUNK_BYTES = 768 * 1024
CHUNK_KEY = "chunk"
APPD_KEY = "appd.json"


def _path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}"


def content_name(package: str, index: int) -> str:
    return f"{package}-content-{index}"


def appd_name(package: str) -> str:
    return f"{package}-appd"


async def read_app_package(
    api: client.ApiClient, namespace: str, name: str
) -> dict[str, Any] | None:
    """The AppPackage namespace/name as stored, or None when there is none."""
    return await objects.get_object(api, PLURAL, namespace, name)


async def list_app_packages(
    api: client.ApiClient, namespace: str, label_selector: str = "", field_selector: str = ""
) -> list[dict[str, Any]]:
    """The AppPackages of namespace (matching the selectors), sorted by creation then name."""
    found = await objects.list_objects(
        api, PLURAL, namespace, label_selector=label_selector, field_selector=field_selector
    )
    return sorted(
        found,
        key=lambda p: (
            p.get("metadata", {}).get("creationTimestamp", ""),
            p.get("metadata", {}).get("name", ""),
        ),
    )


def _field_value(text: str) -> str:
    """The value escaped for a field selector (backslash, comma and equals sign)."""
    return text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


async def packages_with_app_d_id(
    api: client.ApiClient, namespace: str, app_d_id: str
) -> list[dict[str, Any]]:
    """The packages of namespace whose spec.appDId is app_d_id.

    The `mec.dev/app-d-id` label finds those onboarded through the REST API; the selectable
    field spec.appDId also those declared with kubectl, which carry no such label.
    """
    if not re.match(IDENTIFIER, app_d_id) or len(app_d_id) > 128:
        return []
    labelled = await list_app_packages(
        api, namespace, label_selector=f"{APP_D_ID_LABEL}={app_d_id_label(app_d_id)}"
    )
    found = [p for p in labelled if p.get("spec", {}).get("appDId") == app_d_id]
    if found:
        return found
    selected = await list_app_packages(
        api, namespace, field_selector=f"spec.appDId={_field_value(app_d_id)}"
    )
    return [p for p in selected if p.get("spec", {}).get("appDId") == app_d_id]


async def find_app_package(
    api: client.ApiClient, namespace: str, key: str
) -> dict[str, Any] | None:
    """The package whose name (id) is key, else the one whose spec.appDId is key, else None."""
    if is_package_name(key):
        by_name = await read_app_package(api, namespace, key)
        if by_name is not None:
            return by_name
    found = await packages_with_app_d_id(api, namespace, key)
    return found[0] if found else None


async def create_app_package(
    api: client.ApiClient, namespace: str, body: dict[str, Any]
) -> dict[str, Any]:
    """Create the AppPackage (strict field validation); the object as stored."""
    return await objects.create_object(api, PLURAL, namespace, body)


def _with_version(patch: Mapping[str, Any], resource_version: str | None) -> dict[str, Any]:
    body = dict(patch)
    if resource_version is not None:
        body["metadata"] = {**body.get("metadata", {}), "resourceVersion": resource_version}
    return body


async def patch_app_package(
    api: client.ApiClient,
    namespace: str,
    name: str,
    patch: Mapping[str, Any],
    resource_version: str | None = None,
) -> dict[str, Any]:
    """Merge patch of the package (spec, labels); with resource_version, only if unchanged."""
    return await merge_patch(api, _path(namespace, name), _with_version(patch, resource_version))


async def write_app_package_status(
    api: client.ApiClient,
    namespace: str,
    name: str,
    status: Mapping[str, Any],
    resource_version: str | None = None,
) -> dict[str, Any]:
    """Merge status into the package's status; with resource_version, only if unchanged."""
    body = _with_version({"status": dict(status)}, resource_version)
    return await merge_patch(api, f"{_path(namespace, name)}/status", body)


async def delete_app_package(
    api: client.ApiClient, namespace: str, name: str, resource_version: str | None = None
) -> bool:
    """Delete the package (its ConfigMaps follow); False when there was none.

    With resource_version, only the version that was read is deleted (ApiError 409 otherwise).
    """
    return await objects.delete_object(
        api, PLURAL, namespace, name, resource_version=resource_version or None, background=True
    )


async def package_users(api: client.ApiClient, namespace: str, name: str) -> list[str]:
    """Names of the EdgeApps of namespace whose spec.appPackageRef.name is the package."""
    listed = await objects.list_objects(
        api, EDGEAPPS, namespace, field_selector=f"spec.appPackageRef.name={name}"
    )
    return sorted(item["metadata"]["name"] for item in listed)


async def packages_in_use(api: client.ApiClient, namespace: str) -> dict[str, list[str]]:
    """Package name -> the EdgeApps of namespace that refer to it (only packages in use)."""
    users: dict[str, list[str]] = {}
    for item in await objects.list_objects(api, EDGEAPPS, namespace):
        ref = (item.get("spec", {}).get("appPackageRef") or {}).get("name")
        if ref:
            users.setdefault(ref, []).append(item["metadata"]["name"])
    return users


def _owned(package: Mapping[str, Any], name: str, namespace: str) -> dict[str, Any]:
    meta = package["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {PACKAGE_LABEL: meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": package.get("apiVersion", f"{GROUP}/{VERSION}"),
                    "kind": package.get("kind", "AppPackage"),
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                }
            ],
        },
    }


async def _apply(api: client.ApiClient, manifest: dict[str, Any]) -> None:
    meta = manifest["metadata"]
    await objects.apply(
        api, f"/api/v1/namespaces/{meta['namespace']}/configmaps/{meta['name']}", manifest
    )


async def store_package_content(
    api: client.ApiClient, package: Mapping[str, Any], data: bytes, appd: Mapping[str, Any]
) -> int:
    """Keep the archive (in chunks) and the AppD in ConfigMaps owned by package; the chunks.

    Chunks left by an earlier, larger upload are deleted.
    """
    namespace, name = package["metadata"]["namespace"], package["metadata"]["name"]
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]
    for index, chunk in enumerate(chunks):
        manifest = _owned(package, content_name(name, index), namespace)
        manifest["binaryData"] = {CHUNK_KEY: base64.b64encode(chunk).decode()}
        await _apply(api, manifest)
    appd_manifest = _owned(package, appd_name(name), namespace)
    appd_manifest["data"] = {APPD_KEY: json.dumps(appd, separators=(",", ":"))}
    await _apply(api, appd_manifest)
    core = client.CoreV1Api(api)
    listed = await core.list_namespaced_config_map(
        namespace, label_selector=f"{PACKAGE_LABEL}={name}"
    )
    keep = {content_name(name, i) for i in range(len(chunks))} | {appd_name(name)}
    for item in listed.items:
        if item.metadata.name not in keep:
            try:
                await core.delete_namespaced_config_map(item.metadata.name, namespace)
            except ApiException as error:
                if error.status != 404:
                    raise
    return len(chunks)


async def read_package_content(
    api: client.ApiClient, namespace: str, name: str, chunks: int
) -> bytes | None:
    """The archive kept for the package, or None when a chunk is missing."""
    core = client.CoreV1Api(api)
    parts: list[bytes] = []
    for index in range(chunks):
        try:
            config_map = await core.read_namespaced_config_map(content_name(name, index), namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        encoded = (config_map.binary_data or {}).get(CHUNK_KEY)
        if encoded is None:
            return None
        parts.append(base64.b64decode(encoded))
    return b"".join(parts)


async def read_appd(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    """The AppD kept for the package, or None."""
    try:
        config_map = await client.CoreV1Api(api).read_namespaced_config_map(
            appd_name(name), namespace
        )
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    text = (config_map.data or {}).get(APPD_KEY)
    if text is None:
        return None
    document: dict[str, Any] = json.loads(text)
    return document
