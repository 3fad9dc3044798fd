"""MEC 010-2 application package management (`/app_pkgm/v1`) against the real API server.

Every answer is checked against the vendored ETSI file (`etsi()` below): JSON bodies with
EtsiSpec.check, empty ones and the zip against what the operation documents. The file lists no
409 for any operation; state conflicts are answered 409 all the same (docs/api.md says why), so
those bodies are checked against the file's ProblemDetails, and the test says that the
operation does not document the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from aiohttp import web
from kubernetes_asyncio import client, watch
from prometheus_client import CollectorRegistry

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.callbacks import CallbackDelivery, CallbackMetrics, DeliverySettings
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.model import GROUP, VERSION, AppPackage
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.conftest import Kubectl
from tests.etsi.conformance import EtsiSpec, _resolve
from tests.helpers import eventually
from tests.model.catalogue import EXAMPLES_DIR, example

pytestmark = pytest.mark.cluster

PKGM = EtsiSpec("MEC01002_AppPkgMgmt.yaml")
PROBLEM = "application/problem+json"
ROOT = "/app_pkgm/v1/onboarded_app_packages"


# -- checking answers against the file -----------------------------------------------------------


def _problem_schema() -> dict[str, Any]:
    schema: dict[str, Any] = PKGM.spec["components"]["schemas"]["ProblemDetails"]
    return schema


def etsi(response: httpx.Response) -> Any:
    """The answer's body, after checking it against what the file documents for it."""
    method, path, status = response.request.method, response.request.url.path, response.status_code
    media = response.headers.get("content-type", "").split(";")[0]
    if status == 409:  # the file defines a 409 response (ProblemDetails) but lists it nowhere
        _, operation = PKGM.operation(method, path)
        assert "409" not in operation["responses"], "the file documents 409 now: use check()"
        assert PKGM.spec["components"]["responses"]["409"]["content"][PROBLEM]["schema"] == {
            "$ref": "#/components/schemas/ProblemDetails"
        }
        assert media == PROBLEM
        body = response.json()
        jsonschema.Draft202012Validator(_problem_schema()).validate(body)
        return body
    if media in ("application/json", PROBLEM):
        body = response.json()
        PKGM.check(method, path, status, body)
        return body
    schema = PKGM.response_schema(method, path, status)  # fails if the status is undocumented
    if not response.content:
        # "The response message content shall be empty", written by the generator as {}
        assert schema in (None, {"type": "object", "properties": {}}), schema
        return None
    assert media == "application/zip", media
    return response.content


def problem(response: httpx.Response, status: int) -> str:
    """The detail of a ProblemDetails answer with this status (checked against the file)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = etsi(response)
    assert body["status"] == status
    detail: str = body["detail"]
    return detail


def without_required(names: set[str]) -> dict[str, Any]:
    """The file's 200 schema of the package list with names no longer required."""
    schema = copy.deepcopy(PKGM.response_schema("get", ROOT, 200))
    assert schema is not None
    items = schema["items"]
    items["required"] = [n for n in items["required"] if n not in names]
    return schema


# -- packages ------------------------------------------------------------------------------------


def an_appd(**changes: Any) -> dict[str, Any]:
    appd: dict[str, Any] = {
        "appDId": f"appd-{uuid.uuid4()}",
        "appName": "video-analytics",
        "appProvider": "Example Vision",
        "appSoftVersion": "1.4.0",
        "appDVersion": "1.0",
        "mecVersion": "3.1.1, 2.2.1",
        "appInfoName": "Street-camera object counting",
        "appDescription": "Counts pedestrians, bicycles and vehicles in camera streams.",
        "virtualComputeDescriptor": {
            "virtualComputeDescId": "vcd-1",
            "virtualCpu": {"numVirtualCpu": 2},
            "virtualMemory": {"virtualMemSize": 1024},
        },
        "swImageDescriptor": [
            {
                "id": "detector",
                "name": "detector",
                "version": "1.4.0",
                "containerFormat": "DOCKER",
                "swImage": {"file": "registry.example.com/vision/video-analytics:1.4.0"},
            }
        ],
        "appExtCpd": [
            {
                "inherited_attributes": {"cpdId": "rtsp"},
                "additionalServiceData": [
                    {
                        "portData": [
                            {
                                "name": "rtsp",
                                "protocol": "TCP",
                                "port": 8554,
                                "portConfigurable": False,
                            }
                        ]
                    }
                ],
            }
        ],
        "appLatency": {"maxLatency": 30_000_000},
        "userContextTransferCapability": {
            "statefulApplication": True,
            "userContextTransferSupport": True,
        },
    }
    appd.update(changes)
    return {k: v for k, v in appd.items() if v is not None}


def a_zip(
    appd: dict[str, Any] | None = None,
    *,
    tosca: bool = True,
    extra: dict[str, bytes] | None = None,
    stored: bool = False,
) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        if tosca:
            archive.writestr(
                "TOSCA-Metadata/TOSCA.meta",
                "TOSCA-Meta-File-Version: 1.0\nCSAR-Version: 1.1\nCreated-By: tests\n"
                "Entry-Definitions: Definitions/appd.json\n",
            )
            if appd is not None:
                archive.writestr("Definitions/appd.json", json.dumps(appd))
        elif appd is not None:
            archive.writestr("appd.json", json.dumps(appd))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def create_body(data: bytes, **changes: Any) -> dict[str, Any]:
    body = {
        "appPkgName": "video-analytics",
        "appPkgVersion": "1.4.0",
        "appProvider": "Example Vision",
        "checksum": {"algorithm": "SHA-256", "hash": hashlib.sha256(data).hexdigest()},
        "appPkgPath": "https://packages.example.com/video-analytics-1.4.0.zip",
        "userDefinedData": {"team": "vision"},
    }
    body.update(changes)
    return body


# -- fixtures ------------------------------------------------------------------------------------


def _client(crds_installed: ClusterInfo, api: client.ApiClient, settings: ApiSettings) -> Any:
    state = OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(crds_installed.kubeconfig)
    )
    state.started(api)
    app = create_app(state, settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.fixture
async def http(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(crds_installed, api, ApiSettings(auth=AuthMode.NONE)) as c:
        yield c


class Packages:
    """The package API of one namespace."""

    def __init__(self, http: httpx.AsyncClient, namespace: str) -> None:
        self.http = http
        self.root = f"/namespaces/{namespace}{ROOT}"

    async def create(self, data: bytes, **changes: Any) -> dict[str, Any]:
        answer = await self.http.post(self.root, json=create_body(data, **changes))
        assert answer.status_code == 201, answer.text
        info: dict[str, Any] = etsi(answer)
        assert answer.headers["location"] == info["_links"]["self"]["href"]
        return info

    async def upload(
        self, key: str, data: bytes, content_type: str = "application/zip"
    ) -> httpx.Response:
        return await self.http.put(
            f"{self.root}/{key}/package_content",
            content=data,
            headers={"content-type": content_type},
        )

    async def get(self, key: str) -> httpx.Response:
        return await self.http.get(f"{self.root}/{key}")

    async def onboarded(self, data: bytes) -> dict[str, Any]:
        info = await self.create(data)
        answer = await self.upload(info["id"], data)
        assert answer.status_code == 202, answer.text
        etsi(answer)
        found: dict[str, Any] = etsi(await self.get(info["id"]))
        assert found["onboardingState"] == "ONBOARDED", found
        return found


@pytest.fixture
def packages(http: httpx.AsyncClient, namespace: str) -> Packages:
    return Packages(http, namespace)


async def _stored(api: client.ApiClient, namespace: str, name: str) -> AppPackage:
    body = await client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "apppackages", name
    )
    return AppPackage.model_validate(body)


@contextlib.asynccontextmanager
async def onboarding_states(
    api: client.ApiClient, namespace: str, name: str
) -> AsyncIterator[list[str]]:
    """The onboarding states the package's watch events show, in order, while inside."""
    seen: list[str] = []
    started = asyncio.Event()

    async def follow() -> None:
        stream = watch.Watch()
        custom = client.CustomObjectsApi(api)
        listed = await custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "apppackages", field_selector=f"metadata.name={name}"
        )
        started.set()
        async for event in stream.stream(
            custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "apppackages",
            field_selector=f"metadata.name={name}",
            resource_version=listed["metadata"]["resourceVersion"],
        ):
            state = event["object"].get("status", {}).get("onboardingState")
            if state and (not seen or seen[-1] != state):
                seen.append(state)

    async def settled() -> bool:
        return bool(seen) and seen[-1] in ("Onboarded", "Created")

    task = asyncio.create_task(follow())
    await started.wait()
    try:
        yield seen
        await eventually(settled, within=10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- the ETSI client's flow ----------------------------------------------------------------------


async def _check_stored(
    api: client.ApiClient, kubectl: Kubectl, namespace: str, package_id: str, app_d_id: str
) -> None:
    """The AppPackage of an onboarded an_appd(): filled in from the AppD, as kubectl shows it."""
    stored = await _stored(api, namespace, package_id)
    assert stored.spec.app_d_id == app_d_id
    assert stored.spec.latency is not None
    assert stored.spec.latency.max_ms == 30
    assert stored.spec.template is not None
    container = stored.spec.template.spec.containers[0].to_dict()
    assert container["image"] == "registry.example.com/vision/video-analytics:1.4.0"
    assert container["resources"] == {"requests": {"cpu": "2", "memory": "1024M"}}
    assert container["ports"] == [{"containerPort": 8554, "protocol": "TCP", "name": "rtsp"}]
    assert stored.metadata.labels == {"mec.dev/app-d-id": app_d_id}
    # kubectl sees the same object
    row = kubectl("get", "apppackages", package_id, "-n", namespace, "--no-headers").stdout.split()
    assert row[:4] == [package_id, app_d_id, "video-analytics", "1.4.0"]
    assert row[4:7] == ["Onboarded", "Enabled", "NotInUse"]


async def test_etsi_client_flow_from_create_to_delete(
    packages: Packages, api: client.ApiClient, kubectl: Kubectl, namespace: str
) -> None:
    appd = an_appd()
    data = a_zip(appd, extra={"Files/README.txt": b"read me"})

    created = await packages.create(data)
    package_id = created["id"]
    assert (created["onboardingState"], created["operationalState"], created["usageState"]) == (
        "CREATED",
        "DISABLED",
        "NOT_IN_USE",
    )
    assert created["appDId"] == package_id  # the only identifier until the AppD is known
    assert created["userDefinedData"] == {"team": "vision"}
    assert created["_links"]["self"]["href"] == f"http://api{packages.root}/{package_id}"
    problem(await packages.http.get(f"{packages.root}/{package_id}/appd"), 409)
    problem(
        await packages.http.patch(
            f"{packages.root}/{package_id}", json={"operationalState": "ENABLED"}
        ),
        409,
    )

    async with onboarding_states(api, namespace, package_id) as states:
        accepted = await packages.upload(package_id, data)
        assert accepted.status_code == 202, accepted.text
        assert etsi(accepted) is None
    assert states == ["Uploading", "Processing", "Onboarded"]

    app_d_id = appd["appDId"]
    info = etsi(await packages.get(app_d_id))
    assert info == etsi(await packages.get(package_id))  # by appDId and by id alike
    assert info["id"] == package_id
    assert info["appDId"] == app_d_id
    assert (info["onboardingState"], info["operationalState"]) == ("ONBOARDED", "ENABLED")
    assert info["mecInfo"] == ["3.1.1", "2.2.1"]
    assert info["checksum"] == create_body(data)["checksum"]
    assert info["softwareImages"][0]["imagePath"] == (
        "registry.example.com/vision/video-analytics:1.4.0"
    )
    assert {a["artifactPath"] for a in info["additionalArtifacts"]} == {
        "TOSCA-Metadata/TOSCA.meta",
        "Files/README.txt",
    }
    assert info["_links"]["self"]["href"].endswith(f"{ROOT}/{app_d_id}")

    served_appd = etsi(await packages.http.get(f"{packages.root}/{app_d_id}/appd"))
    assert served_appd == appd
    content = await packages.http.get(f"{packages.root}/{app_d_id}/package_content")
    assert content.status_code == 200
    assert etsi(content) == data

    await _check_stored(api, kubectl, namespace, package_id, app_d_id)

    enabled = await packages.http.patch(
        f"{packages.root}/{app_d_id}", json={"operationalState": "ENABLED"}
    )
    assert enabled.status_code == 200
    assert etsi(enabled) == {"operationalState": "ENABLED"}
    detail = problem(await packages.http.delete(f"{packages.root}/{app_d_id}"), 409)
    assert "ENABLED" in detail

    disabled = await packages.http.patch(
        f"{packages.root}/{app_d_id}",
        json={"operationalState": "DISABLED"},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert etsi(disabled) == {"operationalState": "DISABLED"}
    assert etsi(await packages.get(app_d_id))["operationalState"] == "DISABLED"
    assert (
        kubectl(
            "get", "apkg", package_id, "-n", namespace, "-o", "jsonpath={.spec.operationalState}"
        ).stdout
        == "Disabled"
    )

    deleted = await packages.http.delete(f"{packages.root}/{app_d_id}")
    assert deleted.status_code == 204
    assert etsi(deleted) is None
    problem(await packages.get(app_d_id), 404)
    gone = kubectl("get", "apkg", package_id, "-n", namespace, check=False)
    assert "NotFound" in gone.stderr


async def test_content_is_kept_in_chunks_owned_by_the_package(
    packages: Packages, api: client.ApiClient, namespace: str
) -> None:
    noise = os.urandom(1_700_000)  # incompressible: three chunks of at most 768 KiB
    data = a_zip(an_appd(), extra={"Files/model.bin": noise}, stored=True)
    info = await packages.onboarded(data)
    core = client.CoreV1Api(api)
    maps = await core.list_namespaced_config_map(
        namespace, label_selector=f"mec.dev/app-package={info['id']}"
    )
    names = sorted(m.metadata.name for m in maps.items)
    assert names == [f"{info['id']}-appd"] + [f"{info['id']}-content-{i}" for i in range(3)]
    for item in maps.items:
        (owner,) = item.metadata.owner_references
        assert (owner.kind, owner.name) == ("AppPackage", info["id"])
    content = await packages.http.get(f"{packages.root}/{info['appDId']}/package_content")
    assert hashlib.sha256(etsi(content)).hexdigest() == hashlib.sha256(data).hexdigest()


async def test_the_list_filters_and_selects_attributes(packages: Packages) -> None:
    first = await packages.onboarded(a_zip(an_appd(appName="alpha")))
    second = await packages.create(a_zip(an_appd(appName="beta")), appPkgName="beta")

    def ids(response: httpx.Response) -> set[str]:
        return {p["id"] for p in etsi(response)}

    everything = await packages.http.get(packages.root)
    assert ids(everything) == {first["id"], second["id"]}
    alpha = await packages.http.get(packages.root, params={"filter": "(eq,appName,alpha)"})
    assert ids(alpha) == {first["id"]}
    states = "(in,onboardingState,CREATED,UPLOADING);(neq,appName,alpha)"
    assert ids(await packages.http.get(packages.root, params={"filter": states})) == {second["id"]}
    nested = "(eq,checksum/algorithm,SHA-256);(cont,_links/self/href,onboarded_app_packages)"
    assert len(ids(await packages.http.get(packages.root, params={"filter": nested}))) == 2
    versions = "(eq,mecInfo,2.2.1)"  # an array matches when an element does
    assert ids(await packages.http.get(packages.root, params={"filter": versions})) == {first["id"]}
    quoted = "(eq,userDefinedData/team,'vision')"
    assert len(ids(await packages.http.get(packages.root, params={"filter": quoted}))) == 2

    # Selectors: exclude_default takes out the file's default set, exclude_fields what it names.
    slim = await packages.http.get(packages.root, params={"exclude_default": ""})
    body = slim.json()
    jsonschema.Draft202012Validator(without_required({"checksum", "softwareImages"})).validate(body)
    assert all("checksum" not in p and "softwareImages" not in p for p in body)
    assert all("userDefinedData" in p for p in body)
    narrow = await packages.http.get(packages.root, params={"exclude_fields": "userDefinedData"})
    assert all("userDefinedData" not in p for p in etsi(narrow))
    picked = await packages.http.get(packages.root, params={"fields": "additionalArtifacts"})
    assert all("userDefinedData" not in p for p in etsi(picked))
    assert ids(await packages.http.get(packages.root, params={"all_fields": ""})) == ids(everything)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"filter": "(eq,appName)"}, "eq needs a value"),
        ({"filter": "(like,appName,x)"}, "unknown operator 'like'"),
        ({"filter": "(eq,colour,red)"}, "unknown attribute 'colour'"),
        ({"filter": "(eq,appName,a,b)"}, "eq takes one value"),
        ({"filter": "(eq,appName,'x"}, "unterminated quoted value"),
        ({"filter": "(eq,appName,x)(eq,appName,y)"}, "expected ';'"),
        ({"fields": "appName"}, "fields: 'appName' is not one of the complex attributes"),
        ({"all_fields": "", "fields": "checksum"}, "all_fields: cannot be combined"),
        ({"fields": "checksum", "exclude_fields": "checksum"}, "cannot be combined with fields"),
    ],
)
async def test_a_bad_filter_or_selector_is_a_400_naming_it(
    packages: Packages, params: dict[str, str], named: str
) -> None:
    detail = problem(await packages.http.get(packages.root, params=params), 400)
    assert named in detail


# -- refused content -----------------------------------------------------------------------------


async def _refused(
    packages: Packages,
    api: client.ApiClient,
    namespace: str,
    data: bytes,
    declared: bytes | None = None,
) -> tuple[str, AppPackage]:
    info = await packages.create(declared if declared is not None else data)
    answer = await packages.upload(info["id"], data)
    detail = problem(answer, 400)
    after = etsi(await packages.get(info["id"]))
    assert after["onboardingState"] == "CREATED"
    assert after["operationalState"] == "DISABLED"
    assert after["onboardingFailureDetails"]["detail"].endswith(detail)
    return detail, await _stored(api, namespace, info["id"])


def _onboarded_condition(package: AppPackage) -> tuple[str, str]:
    assert package.status is not None
    assert package.status.conditions is not None
    (condition,) = [c for c in package.status.conditions if c.type == "Onboarded"]
    assert condition.status == "False"
    return condition.reason, condition.message


async def test_a_checksum_mismatch_is_refused_and_recorded(
    packages: Packages, api: client.ApiClient, namespace: str
) -> None:
    data = a_zip(an_appd())
    detail, stored = await _refused(packages, api, namespace, data, declared=b"other content")
    assert "checksum" in detail
    assert hashlib.sha256(data).hexdigest() in detail
    assert _onboarded_condition(stored) == ("ChecksumMismatch", detail)


async def test_a_path_that_leaves_the_archive_is_refused(
    packages: Packages, api: client.ApiClient, namespace: str
) -> None:
    data = a_zip(an_appd(), extra={"../../etc/cron.d/evil": b"* * * * * root sh"})
    detail, stored = await _refused(packages, api, namespace, data)
    assert "'../../etc/cron.d/evil'" in detail
    assert _onboarded_condition(stored)[0] == "UnsafeArchive"


async def test_a_zip_bomb_is_refused(
    packages: Packages, api: client.ApiClient, namespace: str
) -> None:
    data = a_zip(an_appd(), extra={"Files/zeros.bin": bytes(100 * 1024 * 1024)})
    assert len(data) < 200_000
    detail, stored = await _refused(packages, api, namespace, data)
    assert "unpacks to" in detail
    assert _onboarded_condition(stored)[0] == "UnsafeArchive"


@pytest.mark.parametrize(
    ("appd", "named"),
    [
        (an_appd(appExtCpd=None), "appExtCpd: Field required"),
        (an_appd(appDescription=None), "appDescription: Field required"),
        (an_appd(swImageDescriptor=[{"id": "x"}]), "swImageDescriptor[0].name: Field required"),
        (an_appd(mecVersion="3.1"), "mecVersion: 3.1 is not x.y.z"),
        (an_appd(appLatency={"maxLatency": "30ms"}), "appLatency.maxLatency"),
    ],
    ids=["appExtCpd", "appDescription", "swImage-name", "mecVersion", "appLatency"],
)
async def test_an_appd_missing_a_field_is_refused_naming_it(
    packages: Packages, api: client.ApiClient, namespace: str, appd: dict[str, Any], named: str
) -> None:
    detail, stored = await _refused(packages, api, namespace, a_zip(appd))
    assert named in detail
    assert _onboarded_condition(stored)[0] == "InvalidAppD"


async def test_refused_content_can_be_replaced(packages: Packages) -> None:
    good = a_zip(an_appd(), tosca=False)
    info = await packages.create(good)
    problem(await packages.upload(info["id"], b"not a zip at all"), 400)
    accepted = await packages.upload(info["id"], good)
    assert accepted.status_code == 202, accepted.text
    assert etsi(await packages.get(info["id"]))["onboardingState"] == "ONBOARDED"
    detail = problem(await packages.upload(info["id"], good), 409)
    assert "ONBOARDED already" in detail


async def test_an_appdid_is_onboarded_once_per_namespace(packages: Packages) -> None:
    appd = an_appd()
    await packages.onboarded(a_zip(appd))
    again = a_zip(appd, extra={"Files/other": b"x"})
    info = await packages.create(again)
    detail = problem(await packages.upload(info["id"], again), 409)
    assert appd["appDId"] in detail


async def test_content_must_be_sent_as_a_zip(packages: Packages) -> None:
    data = a_zip(an_appd())
    info = await packages.create(data)
    for content_type in ("application/json", "text/plain", ""):
        detail = problem(await packages.upload(info["id"], data, content_type), 400)
        assert "Content-Type" in detail
    answer = await packages.upload(info["id"], data, "application/octet-stream")
    assert answer.status_code == 202, answer.text


# -- bad requests and unknown packages ---------------------------------------------------------


async def test_unknown_packages_are_404(packages: Packages) -> None:
    unknown = f"{packages.root}/{uuid.uuid4()}"
    for method, path in (
        ("GET", unknown),
        ("DELETE", unknown),
        ("GET", f"{unknown}/appd"),
        ("GET", f"{unknown}/package_content"),
    ):
        problem(await packages.http.request(method, path), 404)
    body = {"operationalState": "ENABLED"}
    problem(await packages.http.patch(unknown, json=body), 404)
    detail = problem(await packages.upload(unknown.rsplit("/", 1)[-1], b"PK"), 404)
    assert "no application package" in detail


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"checksum": {"algorithm": "MD5", "hash": "00"}}, "body.checksum.algorithm"),
        ({"checksum": {"algorithm": "SHA-256", "hash": "abc"}}, "body.checksum"),
        ({"appPkgPath": "no scheme here"}, "body.appPkgPath"),
        ({"appPkgName": ""}, "body.appPkgName"),
        ({"colour": "red"}, "body.colour"),
    ],
)
async def test_a_bad_create_request_is_a_400_naming_the_field(
    packages: Packages, changes: dict[str, Any], field: str
) -> None:
    body = create_body(b"x", **changes)
    detail = problem(await packages.http.post(packages.root, json=body), 400)
    assert field in detail


async def test_the_generators_wrapped_bodies_are_accepted(packages: Packages) -> None:
    body = {"CreateAppPkg": create_body(b"x")}
    answer = await packages.http.post(packages.root, json=body)
    assert answer.status_code == 201, answer.text
    etsi(answer)


async def test_a_bad_operational_state_is_a_400_naming_the_field(packages: Packages) -> None:
    info = await packages.onboarded(a_zip(an_appd()))
    answer = await packages.http.patch(
        f"{packages.root}/{info['appDId']}", json={"operationalState": "PAUSED"}
    )
    assert "body.operationalState" in problem(answer, 400)


# -- packages declared with kubectl, and packages in use ----------------------------------------


async def test_a_package_declared_with_kubectl_is_served(
    packages: Packages, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR / "apppackage-video-analytics.yaml"))
    declared = example("apppackage-video-analytics.yaml")
    app_d_id = declared["spec"]["appDId"]
    info = etsi(await packages.get(app_d_id))
    assert info == etsi(await packages.get("video-analytics"))
    assert (info["id"], info["appDId"], info["onboardingState"]) == (
        "video-analytics",
        app_d_id,
        "ONBOARDED",
    )
    assert info["operationalState"] == "ENABLED"
    appd = etsi(await packages.http.get(f"{packages.root}/{app_d_id}/appd"))
    assert appd["appDId"] == app_d_id
    assert appd["swImageDescriptor"][0]["swImage"] == {
        "file": "registry.example.com/vision/video-analytics:1.4.0"
    }
    assert appd["appLatency"] == {"maxLatency": 30_000_000}
    problem(await packages.http.get(f"{packages.root}/{app_d_id}/package_content"), 404)


async def test_a_package_in_use_is_not_deleted(
    packages: Packages, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR / "apppackage-video-analytics.yaml"))
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR / "edgeapp-video-analytics.yaml"))
    path = f"{packages.root}/video-analytics"
    etsi(await packages.http.patch(path, json={"operationalState": "DISABLED"}))
    info = etsi(await packages.http.get(path))
    assert info["usageState"] == "IN_USE"
    in_use = await packages.http.get(packages.root, params={"filter": "(eq,usageState,IN_USE)"})
    assert [p["id"] for p in etsi(in_use)] == ["video-analytics"]
    detail = problem(await packages.http.delete(path), 409)
    assert "IN_USE by EdgeApps video-analytics" in detail
    kubectl("delete", "ea", "video-analytics", "-n", namespace)
    assert (await packages.http.delete(path)).status_code == 204


# -- RBAC, for real ------------------------------------------------------------------------------


def _token(kubectl: Kubectl, namespace: str, account: str) -> dict[str, str]:
    token = kubectl("create", "token", account, "-n", namespace, "--duration=10m").stdout.strip()
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def rbac_http(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(crds_installed, api, ApiSettings()) as c:
        yield c


async def test_rbac_decides_who_reads_and_who_onboards(
    rbac_http: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    for account in ("reader", "publisher"):
        kubectl("create", "serviceaccount", account, "-n", namespace)
    kubectl(
        "create", "role", "package-reader", "-n", namespace,
        "--verb=get,list", "--resource=apppackages.mec.dev",
    )  # fmt: skip
    kubectl(
        "create", "role", "package-publisher", "-n", namespace,
        "--verb=get,list,create,update,patch,delete", "--resource=apppackages.mec.dev",
    )  # fmt: skip
    for account, role in (("reader", "package-reader"), ("publisher", "package-publisher")):
        kubectl(
            "create", "rolebinding", account, "-n", namespace,
            f"--role={role}", f"--serviceaccount={namespace}:{account}",
        )  # fmt: skip
    reader, publisher = (_token(kubectl, namespace, a) for a in ("reader", "publisher"))
    root = f"/namespaces/{namespace}{ROOT}"
    data = a_zip(an_appd())

    denied = await rbac_http.post(root, json=create_body(data), headers=reader)
    detail = problem(denied, 403)
    assert f"system:serviceaccount:{namespace}:reader" in detail
    assert "create apppackages.mec.dev" in detail

    created = await rbac_http.post(root, json=create_body(data), headers=publisher)
    assert created.status_code == 201, created.text
    package_id = etsi(created)["id"]
    upload = f"{root}/{package_id}/package_content"
    zip_type = {"content-type": "application/zip"}
    problem(await rbac_http.put(upload, content=data, headers=reader | zip_type), 403)
    accepted = await rbac_http.put(upload, content=data, headers=publisher | zip_type)
    assert accepted.status_code == 202, accepted.text

    assert etsi(await rbac_http.get(f"{root}/{package_id}", headers=reader))["id"] == package_id
    assert len(etsi(await rbac_http.get(root, headers=reader))) == 1
    path = f"{root}/{package_id}"
    body = {"operationalState": "DISABLED"}
    problem(await rbac_http.patch(path, json=body, headers=reader), 403)
    problem(await rbac_http.delete(path, headers=reader), 403)
    problem(await rbac_http.get(root), 401)
    assert (await rbac_http.patch(path, json=body, headers=publisher)).status_code == 200
    assert (await rbac_http.delete(path, headers=publisher)).status_code == 204


# -- subscriptions and notifications -------------------------------------------------------------

NOTIFICATION_SCHEMA = _resolve(PKGM.spec, {"$ref": "#/components/schemas/AppPkgNotification"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An HTTP endpoint on 127.0.0.1 that records the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    async def record(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/notify", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/notify", received
    finally:
        await runner.cleanup()


@pytest.fixture
async def notifying(
    crds_installed: ClusterInfo, api: client.ApiClient, namespace: str
) -> AsyncIterator[Packages]:
    metrics = CallbackMetrics(CollectorRegistry())
    async with CallbackDelivery(DeliverySettings(), metrics=metrics) as notifier:
        state = OperatorState(
            OperatorSettings(standalone=True), from_kubeconfig(crds_installed.kubeconfig)
        )
        state.started(api)
        app = create_app(state, ApiSettings(auth=AuthMode.NONE), notifier)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            yield Packages(http, namespace)


async def test_subscribers_are_notified_of_onboarding_changes_and_deletion(
    notifying: Packages, receiver: tuple[str, list[dict[str, Any]]], namespace: str
) -> None:
    callback, received = receiver
    http = notifying.http
    subscriptions = f"/namespaces/{namespace}/app_pkgm/v1/subscriptions"
    appd = an_appd()
    wanted = {
        "AppPackageOnBoardingSubscription": None,
        "AppPackageChangeSubscription": [{"appName": "video-analytics"}],
        "AppPackageDeletionSubscription": [{"appDId": appd["appDId"]}],
    }
    ids = {}
    for kind, criteria in wanted.items():
        body: dict[str, Any] = {"callbackUri": callback, "subscriptionType": kind}
        if criteria is not None:
            body["appPkgFilter"] = criteria
        created = await http.post(subscriptions, json=body)
        assert created.status_code == 201, created.text
        info = etsi(created)
        assert created.headers["location"] == info["_links"]["self"]["href"]
        assert (info["subscriptionType"], info["callbackUri"]) == (kind, callback)
        ids[kind] = info["id"]
    other = {
        "callbackUri": callback,
        "subscriptionType": "AppPackageChangeSubscription",
        "appPkgFilter": [{"appName": "another-app", "operationalState": "DISABLED"}],
    }
    assert (await http.post(subscriptions, json=other)).status_code == 201

    listed = etsi(await http.get(subscriptions))
    assert len(listed["_links"]["subscriptions"]) == 4
    one = etsi(await http.get(f"{subscriptions}/{ids['AppPackageChangeSubscription']}"))
    assert one["id"] == ids["AppPackageChangeSubscription"]

    info = await notifying.onboarded(a_zip(appd))
    path = f"{notifying.root}/{appd['appDId']}"
    for _ in range(2):  # the second PATCH changes nothing: no notification
        assert (await http.patch(path, json={"operationalState": "DISABLED"})).status_code == 200
    assert (await http.delete(path)).status_code == 204

    async def three() -> bool:
        return len(received) >= 3

    await eventually(three, within=10)
    await asyncio.sleep(0.3)  # nothing else arrives
    assert [n["notificationType"] for n in received] == [
        "AppPackageOnBoarded",
        "AppPackageDisabled",
        "AppPackageDeleted",
    ]
    for sent, kind in zip(received, wanted, strict=True):
        jsonschema.Draft202012Validator(NOTIFICATION_SCHEMA).validate(sent)
        assert (sent["appPkgId"], sent["appDId"]) == (info["id"], appd["appDId"])
        assert sent["subscriptionId"] == ids[kind]
        assert sent["_links"]["subscription"]["href"].endswith(f"/subscriptions/{ids[kind]}")
    assert [n["operationalState"] for n in received] == ["ENABLED", "DISABLED", "DISABLED"]

    gone = await http.delete(f"{subscriptions}/{ids['AppPackageOnBoardingSubscription']}")
    assert gone.status_code == 204
    assert etsi(gone) is None
    problem(await http.get(f"{subscriptions}/{ids['AppPackageOnBoardingSubscription']}"), 404)
    problem(await http.delete(f"{subscriptions}/no-such-subscription"), 404)
    left = etsi(await http.get(subscriptions))["_links"]["subscriptions"]
    assert len(left) == 3
    for link in left:  # leave no MecSubscription behind (`kubectl get mec -A` lists them)
        assert (await http.delete(link["href"].removeprefix("http://api"))).status_code == 204
    assert "subscriptions" not in etsi(await http.get(subscriptions))["_links"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"callbackUri": "ftp://example.com/x"}, "body.callbackUri"),
        ({"subscriptionType": "AppPackageEverything"}, "body.subscriptionType"),
        (
            {"appPkgFilter": [{"operationalState": "ENABLED"}]},
            "appPkgFilter[0].operationalState: only with subscriptionType",
        ),
        ({"appPkgFilter": [{"colour": "red"}]}, "body.appPkgFilter[0].colour"),
    ],
)
async def test_a_bad_subscription_is_a_400_naming_the_field(
    packages: Packages, namespace: str, body: dict[str, Any], named: str
) -> None:
    request = {
        "callbackUri": "http://127.0.0.1:9/notify",
        "subscriptionType": "AppPackageOnBoardingSubscription",
    } | body
    answer = await packages.http.post(
        f"/namespaces/{namespace}/app_pkgm/v1/subscriptions", json=request
    )
    assert named in problem(answer, 400)


# -- roots and interrupted uploads --------------------------------------------------------------


async def test_the_bare_etsi_root_acts_in_the_default_namespace(
    crds_installed: ClusterInfo, api: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    settings = ApiSettings(auth=AuthMode.NONE, default_namespace=namespace)
    async with _client(crds_installed, api, settings) as bare:
        data = a_zip(an_appd())
        created = await bare.post(ROOT, json=create_body(data))
        info = etsi(created)
        assert created.headers["location"] == f"http://api{ROOT}/{info['id']}"
        accepted = await bare.put(
            f"{ROOT}/{info['id']}/package_content",
            content=data,
            headers={"content-type": "application/zip"},
        )
        assert accepted.status_code == 202, accepted.text
        listed = etsi(await bare.get(ROOT))
        assert [p["id"] for p in listed] == [info["id"]]
        assert listed[0]["_links"]["appD"]["href"].startswith(f"http://api{ROOT}/")
    names = kubectl("get", "apkg", "-n", namespace, "-o", "name").stdout.split()
    assert names == [f"apppackage.mec.dev/{info['id']}"]


async def test_an_interrupted_upload_can_be_taken_over_once_stale(
    packages: Packages, api: client.ApiClient, namespace: str
) -> None:
    data = a_zip(an_appd())
    info = await packages.create(data)

    async def interrupted(minutes_ago: int) -> None:
        since = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        condition = {
            "type": "Onboarded",
            "status": "Unknown",
            "reason": "Uploading",
            "message": "receiving the package content",
            "lastTransitionTime": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        await api.call_api(
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/apppackages/{info['id']}/status",
            "PATCH",
            header_params={"Content-Type": "application/merge-patch+json"},
            body={"status": {"onboardingState": "Uploading", "conditions": [condition]}},
            auth_settings=["BearerToken"],
            response_types_map={200: "object"},
            _return_http_data_only=True,
        )

    await interrupted(minutes_ago=1)
    assert etsi(await packages.get(info["id"]))["onboardingState"] == "UPLOADING"
    detail = problem(await packages.upload(info["id"], data), 409)
    assert "another upload is in progress" in detail
    await interrupted(minutes_ago=10)
    accepted = await packages.upload(info["id"], data)
    assert accepted.status_code == 202, accepted.text
    assert etsi(await packages.get(info["id"]))["onboardingState"] == "ONBOARDED"
