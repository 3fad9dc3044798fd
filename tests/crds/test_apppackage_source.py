"""The AppPackage CRD on a real kube-apiserver: a package may exist before its content.

With spec.source (created through the REST API) the AppD essentials and the template are
optional; without it the CEL rules require each of them, naming the field, as the model does.
The source cannot change, nor the appDId and template be removed once set.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_orchestrator.model import GROUP, VERSION, parse_resource
from mec_orchestrator.model.apppackage import ESSENTIALS
from tests.crds.test_cluster import answer, dry_run_create
from tests.model.catalogue import example

SOURCE: dict[str, Any] = {
    "appPkgName": "video-analytics",
    "appPkgVersion": "1.4.0",
    "checksum": {"algorithm": "SHA-256", "hash": "ab" * 32},
    "appPkgPath": "https://packages.example.com/video-analytics.zip",
    "userDefinedData": {"team": "vision", "nested": {"any": [1, "json", True]}},
}


def pending(name: str = "0b9f3c4e-1d2a-4f6b-8c7d-9e0a1b2c3d4e") -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "AppPackage",
        "metadata": {"name": name},
        "spec": {"source": copy.deepcopy(SOURCE), "operationalState": "Disabled"},
    }


async def test_a_package_with_a_source_is_accepted_without_its_appd(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    created = await dry_run_create(custom, pending(), namespace)
    assert created["spec"] == pending()["spec"]
    assert parse_resource(created).to_dict()["spec"] == created["spec"]


@pytest.mark.parametrize("field", ESSENTIALS)
async def test_without_a_source_each_essential_is_required(
    custom: client.CustomObjectsApi, namespace: str, field: str
) -> None:
    declared = example("apppackage-video-analytics.yaml")
    del declared["spec"][field]
    with pytest.raises(ApiException) as refused:
        await dry_run_create(custom, declared, namespace)
    assert refused.value.status == 422
    message = answer(refused.value)["message"]
    assert f"spec.{field}" in message
    assert "unless spec.source is set" in message


@pytest.mark.parametrize(
    ("checksum", "named"),
    [
        ({"algorithm": "SHA-512", "hash": "ab" * 32}, "spec.source.checksum.hash"),
        ({"algorithm": "MD5", "hash": "ab" * 16}, "spec.source.checksum.algorithm"),
        ({"algorithm": "SHA-256", "hash": "AB" * 32}, "spec.source.checksum.hash"),
    ],
)
async def test_a_bad_checksum_is_refused(
    custom: client.CustomObjectsApi, namespace: str, checksum: dict[str, str], named: str
) -> None:
    package = pending()
    package["spec"]["source"]["checksum"] = checksum
    with pytest.raises(ApiException) as refused:
        await dry_run_create(custom, package, namespace)
    assert refused.value.status == 422
    assert named in answer(refused.value)["message"]


async def _patch(
    api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]
) -> dict[str, Any]:
    patched: dict[str, Any] = await api.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/apppackages/{name}",
        "PATCH",
        header_params={"Content-Type": "application/merge-patch+json"},
        body={"spec": spec},
        auth_settings=["BearerToken"],
        response_types_map={200: "object"},
        _return_http_data_only=True,
    )
    return patched


async def _refused_patch(
    api: client.ApiClient, namespace: str, name: str, spec: dict[str, Any]
) -> str:
    with pytest.raises(ApiException) as refused:
        await _patch(api, namespace, name, spec)
    assert refused.value.status == 422
    message: str = answer(refused.value)["message"]
    return message


async def test_onboarding_fills_in_the_appd_which_then_stays(
    custom: client.CustomObjectsApi, api: client.ApiClient, namespace: str
) -> None:
    name = pending()["metadata"]["name"]
    await custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "apppackages", pending()
    )
    declared = example("apppackage-video-analytics.yaml")["spec"]
    essentials = {k: v for k, v in declared.items() if k != "operationalState"}
    onboarded = await _patch(api, namespace, name, essentials)
    assert onboarded["spec"]["appDId"] == declared["appDId"]
    assert "spec.source is immutable" in await _refused_patch(
        api, namespace, name, {"source": {"appPkgVersion": "2.0"}}
    )
    assert "spec.appDId cannot be removed" in await _refused_patch(
        api, namespace, name, {"appDId": None}
    )
    assert "spec.template cannot be removed" in await _refused_patch(
        api, namespace, name, {"template": None}
    )
    assert "spec.appDId is immutable" in await _refused_patch(
        api, namespace, name, {"appDId": "another"}
    )


async def test_a_declared_package_gets_no_source(
    custom: client.CustomObjectsApi, api: client.ApiClient, namespace: str
) -> None:
    declared = example("apppackage-video-analytics.yaml")
    await custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "apppackages", declared)
    message = await _refused_patch(
        api, namespace, declared["metadata"]["name"], {"source": json.loads(json.dumps(SOURCE))}
    )
    assert "spec.source can be neither added nor removed" in message
