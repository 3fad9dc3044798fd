"""MEC 010-2 application lifecycle management (`/app_lcm/v1`) against the real API server.

The API runs in process (httpx ASGI transport, authentication off) on a state connected to the
session's control plane; the real operator process (`mec-orchestrator run`) places and readies
the EdgeApps and judges the operation occurrences. Every answer is checked against the vendored
ETSI file with `EtsiSpec("MEC01002_AppLcm.yaml").check(...)`; a 409, which the v3.1.1 file's
operations do not list, is checked against the file's own `409` response component.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes_asyncio import client

from mec_common.patterns import DNS_LABEL
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import admin_client
from mec_orchestrator.adapters.callbacks import CallbackDelivery
from mec_orchestrator.adapters.kube.connection import from_kubeconfig
from mec_orchestrator.adapters.kube.status import merge_patch
from mec_orchestrator.adapters.kube.subscriptions import get_subscription
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.routers.app_lcm import name_prefix
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.model import SubscriptionApi
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.callbacks.conftest import Receivers
from tests.conftest import EDGE_HOSTS, Kubectl
from tests.etsi.conformance import EtsiSpec, _resolve
from tests.helpers import eventually
from tests.model.catalogue import example
from tests.operator.conftest import OperatorProcess, Topology, _edge_host

pytestmark = pytest.mark.cluster

SPEC = EtsiSpec("MEC01002_AppLcm.yaml")
PROBLEM = "application/problem+json"
BASELINE = {"edge-a": 30.0, "edge-b": 2.0, "edge-c": 12.0}


def etsi(response: httpx.Response, status: int) -> Any:
    """The body, after checking the status and the body against the ETSI file."""
    assert response.status_code == status, response.text
    body: Any = response.json() if response.content else None
    request = response.request
    if status == 409:
        # Documented by the file's `409` component (ProblemDetails), not by its operations.
        ref = SPEC.spec["components"]["responses"]["409"]["content"][PROBLEM]["schema"]["$ref"]
        assert ref == "#/components/schemas/ProblemDetails"
        schema = SPEC.spec["components"]["schemas"]["ProblemDetails"]
        jsonschema.Draft202012Validator(schema).validate(body)
    else:
        SPEC.check(request.method, request.url.path, status, body)
    if status >= 400:
        assert response.headers["content-type"].startswith(PROBLEM)
        assert body["status"] == status
        assert body["detail"]
    return body


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def edge_topology(crds_installed: ClusterInfo) -> Topology:
    """EdgeHosts for edge-a/b/c and one access point (as tests/operator/conftest sets them)."""
    with admin_client(crds_installed) as http:
        for host in EDGE_HOSTS:
            answer = http.post("/apis/mec.dev/v1alpha1/edgehosts", json=_edge_host(host))
            assert answer.status_code in (201, 409), answer.text
        zone = {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "Zone",
            "metadata": {"name": "zone-test"},
            "spec": {
                "accessPoints": [
                    {
                        "id": "ap-test",
                        "location": {"latitude": 1.0, "longitude": 1.0},
                        "probeReflector": "ap-test.local:8620",
                    }
                ]
            },
        }
        answer = http.post("/apis/mec.dev/v1alpha1/zones", json=zone)
        assert answer.status_code in (201, 409), answer.text
    topology = Topology(crds_installed)
    topology.set_rtts(BASELINE)
    return topology


@pytest.fixture(scope="module")
def lcm_operator(
    crds_installed: ClusterInfo, edge_topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The real orchestrator, judging operations every 0.3 s (timeout 120 s)."""
    env = {"MEC_LCM_POLL_SECONDS": "0.3", "MEC_LCM_OPERATION_TIMEOUT_SECONDS": "120"}
    logs: Path = tmp_path_factory.mktemp("lcm-operator")
    replica = OperatorProcess(crds_installed, logs, priority=150, env=env).start()
    yield replica
    replica.stop()


@pytest.fixture
async def etsi_api(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    state = OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(crds_installed.kubeconfig)
    )
    state.started(api)
    app = create_app(state, ApiSettings(auth=AuthMode.NONE))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mec.test") as http:
        yield http


def package_manifest(name: str, app_d_id: str, **spec: Any) -> dict[str, Any]:
    """A fully onboarded package, as examples/apppackage-video-analytics.yaml declares one."""
    manifest = example("apppackage-video-analytics.yaml")
    manifest["metadata"] = {"name": name, "labels": {"mec.dev/app-d-id": app_d_id}}
    manifest["spec"] = {**manifest["spec"], "appDId": app_d_id, **spec}
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"] = {}
    return manifest


async def create_package(
    api: client.ApiClient, namespace: str, name: str = "video", **spec: Any
) -> str:
    app_d_id = f"appd-{uuid.uuid4()}"
    await client.CustomObjectsApi(api).create_namespaced_custom_object(
        "mec.dev", "v1alpha1", namespace, "apppackages", package_manifest(name, app_d_id, **spec)
    )
    return app_d_id


def root(namespace: str) -> str:
    return f"/namespaces/{namespace}/app_lcm/v1"


async def op_state(http: httpx.AsyncClient, location: str) -> dict[str, Any]:
    body: dict[str, Any] = etsi(await http.get(location), 200)
    return body


async def until_state(
    http: httpx.AsyncClient, location: str, state: str, within: float = 60
) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        body = await op_state(http, location)
        return body if body["operationState"] == state else None

    found: dict[str, Any] = await eventually(reached, within=within)
    return found


async def create_instance(
    http: httpx.AsyncClient, namespace: str, app_d_id: str, **more: Any
) -> dict[str, Any]:
    answer = await http.post(f"{root(namespace)}/app_instances", json={"appDId": app_d_id, **more})
    body: dict[str, Any] = etsi(answer, 201)
    assert answer.headers["location"] == body["_links"]["self"]["href"]
    return body


# -- the ETSI flow -------------------------------------------------------------------------------


async def test_create_instantiate_operate_terminate_delete(  # noqa: PLR0915
    etsi_api: httpx.AsyncClient,
    api: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    lcm_operator: OperatorProcess,
) -> None:
    http, base = etsi_api, root(namespace)
    app_d_id = await create_package(api, namespace)
    created = await create_instance(
        http, namespace, app_d_id, appInstanceName="Video analytics (test)",
        appInstanceDescription="counts things",
    )  # fmt: skip
    instance_id = created["id"]
    assert instance_id.startswith("video-analytics-test-")
    assert created["instantiationState"] == "NOT_INSTANTIATED"
    assert (created["appPkgId"], created["appDVersion"], created["appDId"]) == (
        "video", "1.0", app_d_id,
    )  # fmt: skip
    assert created["appInstanceName"] == "Video analytics (test)"
    assert set(created["_links"]) == {"self", "instantiate"}
    self_href = f"http://mec.test{base}/app_instances/{instance_id}"
    assert created["_links"]["self"]["href"] == self_href

    # The same object for kubectl: an EdgeApp, not instantiated, running the package.
    edgeapp = json.loads(kubectl("get", "ea", instance_id, "-n", namespace, "-o", "json").stdout)
    assert edgeapp["spec"]["lifecycle"] == "NotInstantiated"
    assert edgeapp["spec"]["appPackageRef"] == {"name": "video"}
    assert edgeapp["spec"]["latency"] == {"maxMs": 30}

    listed = etsi(await http.get(f"{base}/app_instances"), 200)
    assert [i["id"] for i in listed] == [instance_id]
    matching = f"{base}/app_instances?filter=(eq,instantiationState,NOT_INSTANTIATED)"
    assert [i["id"] for i in etsi(await http.get(matching), 200)] == [instance_id]
    assert etsi(await http.get(f"{base}/app_instances?filter=(eq,appName,other)"), 200) == []

    # Instantiate on edge-b or edge-c: PROCESSING until the EdgeApp is Ready, then COMPLETED.
    hosts = [{"hostId": {"name": "edge-b"}, "hostName": "edge-b"}, {"hostId": "edge-c"}]
    answer = await http.post(
        f"{base}/app_instances/{instance_id}/instantiate", json={"selectedMECHostInfo": hosts}
    )
    assert etsi(answer, 202) == {}
    instantiating = answer.headers["location"]
    occ = await op_state(http, instantiating)
    assert occ["operationState"] == "PROCESSING"
    assert occ["lcmOperation"] == "INSTANTIATE"
    normalised = [hosts[0], {"hostId": {"name": "edge-c"}}]  # hostId is an object in the file
    assert occ["operationParams"] == {"selectedMECHostInfo": normalised}
    assert occ["_links"]["appInstance"]["href"] == self_href
    assert occ["isCancelPending"] is False
    body = etsi(
        await http.post(
            f"{base}/app_instances/{instance_id}/instantiate", json={"selectedMECHostInfo": hosts}
        ),
        409,
    )
    assert "INSTANTIATED" in body["detail"]

    done = await until_state(http, instantiating, "COMPLETED")
    assert done["stateEnteredTime"]["seconds"] >= done["startTime"]["seconds"]
    edgeapp = json.loads(kubectl("get", "ea", instance_id, "-n", namespace, "-o", "json").stdout)
    ready = next(c for c in edgeapp["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["observedGeneration"]) == (
        "True", edgeapp["metadata"]["generation"],
    )  # fmt: skip
    assert edgeapp["spec"]["placement"]["hosts"] == ["edge-b", "edge-c"]
    assert edgeapp["status"]["hostsSummary"] == "edge-b"
    shown = kubectl("get", "lcmop", "-n", namespace).stdout
    assert "Instantiate" in shown
    assert "Completed" in shown

    info = etsi(await http.get(f"{base}/app_instances/{instance_id}"), 200)
    assert info["instantiationState"] == "INSTANTIATED"
    assert info["instantiatedAppState"]["operationalState"] == "STARTED"
    (mcio,) = info["instantiatedAppState"]["mcioInfo"]
    assert (mcio["mcioName"], mcio["availableInstances"]) == (f"{instance_id}-edge-b", 1)
    assert info["communicationInterface"]["ipAddresses"] == [
        {"host": f"{instance_id}-edge-b.{namespace}.svc", "port": 8554}
    ]
    assert set(info["_links"]) == {"self", "terminate", "operate"}
    body = etsi(await http.post(instantiating.replace("http://mec.test", "") + "/retry"), 409)
    assert "COMPLETED" in body["detail"]
    etsi(await http.delete(f"{base}/app_instances/{instance_id}"), 409)

    # Stop: COMPLETED once the instance is scaled to zero.
    operate = f"{base}/app_instances/{instance_id}/operate"
    answer = await http.post(operate, json={"changeStateTo": "STOPPED", "stopType": "FORCEFUL"})
    etsi(answer, 202)
    stopped = await until_state(http, answer.headers["location"], "COMPLETED")
    assert stopped["lcmOperation"] == "OPERATE"
    assert "operationParams" not in stopped  # the file types it as InstantiateAppRequest
    info = etsi(await http.get(f"{base}/app_instances/{instance_id}"), 200)
    assert info["instantiatedAppState"]["operationalState"] == "STOPPED"
    etsi(await http.post(operate, json={"changeStateTo": "STOPPED"}), 409)

    # Terminate: COMPLETED when no instance is left; then the instance may be deleted.
    terminate = f"{base}/app_instances/{instance_id}/terminate"
    answer = await http.post(
        terminate, json={"terminationType": "GRACEFUL", "gracefulTerminationTimeout": 10}
    )
    etsi(answer, 202)
    await until_state(http, answer.headers["location"], "COMPLETED")
    deployments = await client.AppsV1Api(api).list_namespaced_deployment(
        namespace, label_selector=f"mec.dev/app={instance_id}"
    )
    assert deployments.items == []
    body = etsi(await http.post(terminate, json={"terminationType": "FORCEFUL"}), 409)
    assert "NOT_INSTANTIATED" in body["detail"]

    occs = etsi(await http.get(f"{base}/app_lcm_op_occs"), 200)
    assert [o["lcmOperation"] for o in occs] == ["INSTANTIATE", "OPERATE", "TERMINATE"]
    assert all(o["operationState"] == "COMPLETED" for o in occs)
    assert all("operationParams" not in o for o in occs)  # excluded by default
    everything = etsi(await http.get(f"{base}/app_lcm_op_occs?all_fields"), 200)
    assert everything[0]["operationParams"] == {"selectedMECHostInfo": normalised}
    operates = etsi(await http.get(f"{base}/app_lcm_op_occs?filter=(eq,lcmOperation,OPERATE)"), 200)
    assert [o["lcmOperation"] for o in operates] == ["OPERATE"]

    assert etsi(await http.delete(f"{base}/app_instances/{instance_id}"), 204) is None
    etsi(await http.get(f"{base}/app_instances/{instance_id}"), 404)


async def test_failed_temp_then_retry_cancel_and_fail(
    etsi_api: httpx.AsyncClient,
    api: client.ApiClient,
    namespace: str,
    kubectl: Kubectl,
    lcm_operator: OperatorProcess,
) -> None:
    http, base = etsi_api, root(namespace)
    app_d_id = await create_package(api, namespace)
    instance_id = (await create_instance(http, namespace, app_d_id))["id"]
    nowhere = {"selectedMECHostInfo": [{"hostId": {"name": "edge-nowhere"}}]}
    answer = await http.post(f"{base}/app_instances/{instance_id}/instantiate", json=nowhere)
    etsi(answer, 202)
    location = answer.headers["location"]
    occ_id = location.rsplit("/", 1)[-1]
    occ_path = f"{base}/app_lcm_op_occs/{occ_id}"

    def timeout(seconds: int) -> None:
        kubectl(
            "patch", "lcmop", occ_id, "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": {"timeoutSeconds": seconds}}),
        )  # fmt: skip

    # No eligible host: FAILED_TEMP after the (shortened) timeout, saying why from Placed.
    timeout(2)
    failed = await until_state(http, occ_path, "FAILED_TEMP")
    assert failed["error"]["status"] == 504
    assert "INSTANTIATE not completed within 2 s" in failed["error"]["detail"]
    assert "Placed is False (NoEligibleHost)" in failed["error"]["detail"]
    assert "not allowed by spec.placement.hosts" in failed["error"]["detail"]
    body = etsi(await http.post(f"{base}/app_instances/{instance_id}/terminate",
                                json={"terminationType": "FORCEFUL"}), 409)  # fmt: skip
    assert occ_id in body["detail"]
    assert "FAILED_TEMP" in body["detail"]
    body = etsi(await http.post(f"{occ_path}/cancel", json={"CancelMode": "GRACEFUL"}), 409)
    assert "only a PROCESSING operation can be cancelled" in body["detail"]

    # Retry: PROCESSING again (the change is made again), then a graceful and a forced cancel.
    timeout(600)
    etsi(await http.post(f"{occ_path}/retry"), 202)
    retried = await until_state(http, occ_path, "PROCESSING")
    assert "error" not in retried
    assert retried["stateEnteredTime"]["seconds"] >= failed["stateEnteredTime"]["seconds"]
    etsi(await http.post(f"{occ_path}/cancel", json={"CancelMode": "GRACEFUL"}), 202)

    async def pending() -> dict[str, Any] | None:
        body = await op_state(http, occ_path)
        return body if body["isCancelPending"] else None

    graceful = await eventually(pending)
    assert graceful["operationState"] == "PROCESSING"
    assert graceful["cancelMode"] == {"CancelMode": "GRACEFUL"}
    etsi(await http.post(f"{occ_path}/cancel", json={"CancelMode": "GRACEFUL"}), 409)
    etsi(await http.post(f"{occ_path}/cancel", json={"CancelMode": {"CancelMode": "FORCED"}}), 202)
    cancelled = await until_state(http, occ_path, "FAILED_TEMP")
    assert "FORCED" in cancelled["error"]["detail"]
    assert cancelled["isCancelPending"] is False

    # Fail: FAILED for good (answered once the operator applied it); no retry after that.
    final = etsi(await http.post(f"{occ_path}/fail"), 200)
    assert final["operationState"] == "FAILED"
    assert final["error"]["detail"] == cancelled["error"]["detail"]
    body = etsi(await http.post(f"{occ_path}/retry"), 409)
    assert "FAILED" in body["detail"]
    shown = json.loads(kubectl("get", "lcmop", occ_id, "-n", namespace, "-o", "json").stdout)
    assert shown["status"]["operationState"] == "Failed"
    assert shown["spec"]["request"] == {"action": "Fail", "sequence": 4}

    answer = await http.post(
        f"{base}/app_instances/{instance_id}/terminate", json={"terminationType": "FORCEFUL"}
    )
    etsi(answer, 202)
    await until_state(http, answer.headers["location"], "COMPLETED")
    etsi(await http.delete(f"{base}/app_instances/{instance_id}"), 204)


# -- without the operator ------------------------------------------------------------------------


async def test_an_edgeapp_declared_with_kubectl_is_an_app_instance(
    etsi_api: httpx.AsyncClient, namespace: str, kubectl: Kubectl
) -> None:
    manifest = {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeApp",
        "metadata": {"name": "declared"},
        "spec": {
            "appDId": "declared-d",
            "appName": "declared",
            "appProvider": "tests",
            "appSoftVersion": "2.0",
            "latency": {"maxMs": 5},
            "lifecycle": "NotInstantiated",
            "template": {"spec": {"containers": [{"name": "app", "image": "registry.local/a"}]}},
        },
    }
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
    info = etsi(await etsi_api.get(f"{root(namespace)}/app_instances/declared"), 200)
    assert (info["id"], info["appDId"], info["appSoftVersion"]) == ("declared", "declared-d", "2.0")
    assert (info["appPkgId"], info["appDVersion"]) == ("", "")  # no package: no AppD version
    assert info["instantiationState"] == "NOT_INSTANTIATED"
    # bare ETSI paths act in the default namespace, where there is no such instance
    etsi(await etsi_api.get("/app_lcm/v1/app_instances/declared"), 404)


async def test_bad_requests_are_refused_naming_why(
    etsi_api: httpx.AsyncClient, api: client.ApiClient, namespace: str
) -> None:
    http, base = etsi_api, root(namespace)
    body = etsi(await http.post(f"{base}/app_instances", json={"appDId": "no-such-appd"}), 404)
    assert "no-such-appd" in body["detail"]
    body = etsi(await http.post(f"{base}/app_instances", json={"appInstanceName": "x"}), 400)
    assert "body.appDId" in body["detail"]
    body = etsi(
        await http.post(f"{base}/app_instances", json={"appDId": "a", "appPlacementInfo": {
            "mepId": "m"}}),
        400,
    )  # fmt: skip
    assert "body.appPlacementInfo" in body["detail"]
    assert "not supported" in body["detail"]

    # A package created through the API whose content is still being processed; a disabled one.
    source = {
        "appPkgName": "pending", "appPkgVersion": "1", "appPkgPath": "https://pkgs.example/p.zip",
        "checksum": {"algorithm": "SHA-256", "hash": "0" * 64},
    }  # fmt: skip
    pending = await create_package(api, namespace, "pending", source=source)
    await merge_patch(
        api,
        f"/apis/mec.dev/v1alpha1/namespaces/{namespace}/apppackages/pending/status",
        {"status": {"onboardingState": "Processing"}},
    )
    body = etsi(await http.post(f"{base}/app_instances", json={"appDId": pending}), 409)
    assert "application package pending is not onboarded (it is PROCESSING)" in body["detail"]
    disabled = await create_package(api, namespace, "disabled", operationalState="Disabled")
    body = etsi(await http.post(f"{base}/app_instances", json={"appDId": disabled}), 409)
    assert "application package disabled is DISABLED" in body["detail"]

    app_d_id = await create_package(api, namespace)
    instance_id = (await create_instance(http, namespace, app_d_id))["id"]
    instantiate = f"{base}/app_instances/{instance_id}/instantiate"
    body = etsi(await http.post(instantiate, json={"selectedMECHostInfo": []}), 400)
    assert "body.selectedMECHostInfo" in body["detail"]
    body = etsi(await http.post(instantiate, json={"selectedMECHostInfo": [{"hostId": {}}]}), 400)
    assert "body.selectedMECHostInfo[0].hostId" in body["detail"]
    body = etsi(
        await http.post(instantiate, json={"selectedMECHostInfo": [{"hostId": "edge-a"}],
                                           "locationConstraints": {"countryCode": "AU"}}),
        400,
    )  # fmt: skip
    assert "body.locationConstraints" in body["detail"]
    assert "not supported" in body["detail"]
    body = etsi(await http.post(instantiate, content=b"{not json",
                                headers={"content-type": "application/json"}), 400)  # fmt: skip
    assert "body" in body["detail"]
    operate = f"{base}/app_instances/{instance_id}/operate"
    body = etsi(await http.post(operate, json={"changeStateTo": "PAUSED"}), 400)
    assert "body.changeStateTo" in body["detail"]
    body = etsi(
        await http.post(operate, json={"changeStateTo": "STOPPED", "stopType": "GRACEFUL"}), 400
    )
    assert "gracefulStopTimeout" in body["detail"]
    body = etsi(await http.post(operate, json={"changeStateTo": "STARTED"}), 409)
    assert "NOT_INSTANTIATED" in body["detail"]
    terminate = f"{base}/app_instances/{instance_id}/terminate"
    body = etsi(await http.post(terminate, json={"terminationType": "FORCEFUL"}), 409)
    assert "NOT_INSTANTIATED" in body["detail"]
    body = etsi(await http.post(terminate, json={"terminationType": "SOON"}), 400)
    assert "body.terminationType" in body["detail"]

    body = etsi(await http.get(f"{base}/app_lcm_op_occs/no-such-op"), 404)
    assert "no-such-op" in body["detail"]
    etsi(await http.post(f"{base}/app_lcm_op_occs/no-such-op/retry"), 404)
    etsi(await http.post(f"{base}/app_lcm_op_occs/no-such-op/fail"), 404)
    etsi(await http.get(f"{base}/app_instances/no-such-instance"), 404)
    etsi(await http.post(f"{base}/app_instances/no-such-instance/terminate",
                         json={"terminationType": "FORCEFUL"}), 404)  # fmt: skip
    body = etsi(await http.get(f"{base}/app_instances?filter=(eq,nothing,1)"), 400)
    assert "unknown attribute 'nothing'" in body["detail"]
    body = etsi(await http.get(f"{base}/app_lcm_op_occs?filter=(eq,a,1)&filter1=(eq,a,1)"), 400)
    assert "query.filter" in body["detail"]


# -- RBAC ----------------------------------------------------------------------------------------


@pytest.fixture
async def rbac_api(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    state = OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(crds_installed.kubeconfig)
    )
    state.started(api)
    app = create_app(state, ApiSettings())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mec.test") as http:
        yield http


async def test_rbac_decides_every_call(
    rbac_api: httpx.AsyncClient, api: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    kubectl("create", "serviceaccount", "viewer", "-n", namespace)
    kubectl(
        "create", "role", "lcm-viewer", "-n", namespace, "--verb=get,list",
        "--resource=edgeapps.mec.dev,applcmopoccs.mec.dev",
    )  # fmt: skip
    kubectl(
        "create", "rolebinding", "viewer", "-n", namespace, "--role=lcm-viewer",
        f"--serviceaccount={namespace}:viewer",
    )  # fmt: skip
    token = kubectl("create", "token", "viewer", "-n", namespace, "--duration=10m").stdout.strip()
    headers = {"authorization": f"Bearer {token}"}
    base = root(namespace)
    assert etsi(await rbac_api.get(f"{base}/app_instances", headers=headers), 200) == []
    assert etsi(await rbac_api.get(f"{base}/app_lcm_op_occs", headers=headers), 200) == []
    body = etsi(
        await rbac_api.post(f"{base}/app_instances", json={"appDId": "x"}, headers=headers), 403
    )
    assert "may not create edgeapps.mec.dev" in body["detail"]
    body = etsi(
        await rbac_api.post(
            f"{base}/app_instances/x/instantiate",
            json={"selectedMECHostInfo": [{"hostId": "edge-a"}]},
            headers=headers,
        ),
        403,
    )
    assert "may not update edgeapps.mec.dev" in body["detail"]
    body = etsi(await rbac_api.post(f"{base}/app_lcm_op_occs/x/retry", headers=headers), 403)
    assert "may not update applcmopoccs.mec.dev" in body["detail"]
    etsi(await rbac_api.get(f"{base}/app_instances"), 401)


# -- subscriptions and notifications -------------------------------------------------------------


@pytest.fixture
async def notifying_api(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a running callback delivery (as `mec-orchestrator run` gives it one)."""
    state = OperatorState(
        OperatorSettings(standalone=True), from_kubeconfig(crds_installed.kubeconfig)
    )
    state.started(api)
    async with CallbackDelivery() as delivery:
        app = create_app(state, ApiSettings(auth=AuthMode.NONE), delivery)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mec.test") as http:
            yield http


def schema(name: str) -> dict[str, Any]:
    resolved: dict[str, Any] = _resolve(SPEC.spec, SPEC.spec["components"]["schemas"][name])
    return resolved


async def test_subscriptions_receive_the_lifecycle_notifications(  # noqa: PLR0915
    notifying_api: httpx.AsyncClient,
    api: client.ApiClient,
    namespace: str,
    lcm_operator: OperatorProcess,
    tmp_path: Path,
) -> None:
    http, base = notifying_api, root(namespace)
    receiver = await Receivers(tmp_path).start()
    try:
        app_d_id = await create_package(api, namespace)
        callback = receiver.url
        requests = {
            "creation": {
                "subscriptionType": "AppIdentifierCreationSubscription",
                "callbackUri": callback,
                "appInstanceSubscriptionFilter": {
                    "appInstSelectorType": 3, "appInstances": [app_d_id],
                },
            },
            "deletion": {"subscriptionType": "AppIdentifierDeletionSubscription",
                         "callbackUri": callback},
            "completed": {
                "AppLcmOpOccSubscriptionRequest": {  # the generator's wrapper is accepted too
                    "subscriptionType": "AppLcmOpOccStateChangeSubscription",
                    "callbackUri": callback,
                    "appLcmOpOccSubscriptionFilter": {"operationStates": "COMPLETED"},
                }
            },
            "started": {
                "subscriptionType": "AppInstanceStateChangeSubscription",
                "callbackUri": callback,
                "appInstanceState": "STARTED",
            },
            "other-appd": {
                "subscriptionType": "AppIdentifierCreationSubscription",
                "callbackUri": callback,
                "appInstanceSubscriptionFilter": {
                    "appInstSelectorType": 4,
                    "appsFromProviders": [{"appProvider": "Someone Else"}],
                },
            },
        }  # fmt: skip
        ids: dict[str, str] = {}
        info_types = {
            "AppIdentifierCreationSubscription": "AppInstIdCreationSubscriptionInfo",
            "AppIdentifierDeletionSubscription": "AppInstIdDeletionSubscriptionInfo",
            "AppLcmOpOccStateChangeSubscription": "AppLcmOpOccSubscriptionInfo",
            "AppInstanceStateChangeSubscription": "AppInstSubscriptionInfo",
        }
        for key, request in requests.items():
            answer = await http.post(f"{base}/subscriptions", json=request)
            info = etsi(answer, 201)
            jsonschema.Draft202012Validator(schema(info_types[info["subscriptionType"]])).validate(
                info
            )
            assert answer.headers["location"] == info["_links"]["self"]["href"]
            assert info["callbackUri"] == callback
            ids[key] = info["id"]
        stored = await get_subscription(api, namespace, ids["started"])  # a MecSubscription
        assert stored is not None
        assert stored.spec.api is SubscriptionApi.APP_LCM
        assert stored.spec.filter == {"appInstanceState": "STARTED"}

        listed = etsi(await http.get(f"{base}/subscriptions"), 200)
        assert len(listed["_links"]["subscriptions"]) == 5
        creations = etsi(
            await http.get(
                f"{base}/subscriptions?subscriptiontype=AppIdentifierCreationSubscription"
            ),
            200,
        )
        assert len(creations["_links"]["subscriptions"]) == 2
        one = etsi(await http.get(f"{base}/subscriptions/{ids['started']}"), 200)
        assert one["appInstanceState"] == "STARTED"
        assert etsi(await http.delete(f"{base}/subscriptions/{ids['other-appd']}"), 204) is None
        etsi(await http.get(f"{base}/subscriptions/{ids['other-appd']}"), 404)
        body = etsi(await http.post(f"{base}/subscriptions", json={
            "subscriptionType": "AppInstanceStateChangeSubscription",
            "callbackUri": "ftp://nowhere/notify"}), 400)  # fmt: skip
        assert "body.callbackUri" in body["detail"]
        body = etsi(await http.post(f"{base}/subscriptions", json={
            "subscriptionType": "Everything", "callbackUri": callback}), 400)  # fmt: skip
        assert "body.subscriptionType" in body["detail"]
        body = etsi(await http.post(f"{base}/subscriptions", json={
            "subscriptionType": "AppIdentifierCreationSubscription", "callbackUri": callback,
            "appInstanceSubscriptionFilter": {"appInstSelectorType": 1,
                                              "appInstances": ["x"]}}), 400)  # fmt: skip
        assert "appInstSelectorType" in body["detail"]
        etsi(await http.get(f"{base}/subscriptions?subscriptiontype=Everything"), 400)

        # The lifecycle: create, instantiate, terminate, delete.
        instance_id = (await create_instance(http, namespace, app_d_id))["id"]
        answer = await http.post(
            f"{base}/app_instances/{instance_id}/instantiate",
            json={"selectedMECHostInfo": [{"hostId": "edge-b"}]},
        )
        etsi(answer, 202)
        instantiated = await until_state(http, answer.headers["location"], "COMPLETED")
        answer = await http.post(
            f"{base}/app_instances/{instance_id}/terminate", json={"terminationType": "FORCEFUL"}
        )
        etsi(answer, 202)
        terminated = await until_state(http, answer.headers["location"], "COMPLETED")
        etsi(await http.delete(f"{base}/app_instances/{instance_id}"), 204)

        def kinds(records: list[dict[str, Any]]) -> list[str]:
            return sorted(r["body"]["notificationType"] for r in records)

        expected = sorted([
            "AppIdentifierCreationSubscription", "AppLcmOpOccStateChangeSubscription",
            "AppInstanceStateChangeSubscription", "AppLcmOpOccStateChangeSubscription",
            "AppIdentifierDeletionSubscription",
        ])  # fmt: skip
        records = await receiver.wait_for(
            "the lifecycle notifications", lambda r: len(r) >= len(expected), within=20
        )
        await asyncio.sleep(1)  # nothing more comes: PROCESSING and NOT_INSTANTIATED are not wanted
        records = receiver.records()
        assert kinds(records) == expected
        notification_types = {
            "AppIdentifierCreationSubscription": "AppInstanceIdentifierCreationNotification",
            "AppIdentifierDeletionSubscription": "AppInstanceIdentifierDeletionNotification",
            "AppLcmOpOccStateChangeSubscription": "AppLcmOpOccNotification",
            "AppInstanceStateChangeSubscription": "AppInstNotification",
        }
        for record in records:
            sent = record["body"]
            jsonschema.Draft202012Validator(
                schema(notification_types[sent["notificationType"]])
            ).validate(sent)
            assert record["id"] == sent["id"]
            assert sent["appInstanceId"] == instance_id
            assert sent["_links"]["subscription"]["href"].endswith(
                f"{base}/subscriptions/{sent['subscriptionId']}"
            )
        by_type = {r["body"]["notificationType"]: r["body"] for r in records}
        assert by_type["AppIdentifierCreationSubscription"]["subscriptionId"] == ids["creation"]
        assert by_type["AppInstanceStateChangeSubscription"]["appInstanceState"] == "STARTED"
        assert by_type["AppInstanceStateChangeSubscription"]["appDId"] == app_d_id
        occ_notes = sorted(
            (n["operationType"], n["operationState"], n["appLcmOpOccId"])
            for n in (r["body"] for r in records)
            if n["notificationType"] == "AppLcmOpOccStateChangeSubscription"
        )
        assert occ_notes == [
            ("INSTANTIATE", "COMPLETED", instantiated["id"]),
            ("TERMINATE", "COMPLETED", terminated["id"]),
        ]
    finally:
        await receiver.kill()


@given(st.text(max_size=80))
def test_instance_names_are_dns_labels_from_any_human_name(human: str) -> None:
    prefix = name_prefix(human or "app")
    generated = prefix + "x7k2p"  # the API server appends 5 characters to generateName
    assert len(prefix) <= 31
    assert re.fullmatch(DNS_LABEL[1:-1], generated)
    assert generated[0].isalpha()  # a Service name (DNS-1035) may start the instance names
