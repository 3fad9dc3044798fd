"""The API's framework: ProblemDetails for every error, namespaces in the root, body limits,
probes, and Kubernetes authentication and authorisation against the real API server.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from kubernetes_asyncio import client

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube.connection import Connection, from_kubeconfig
from mec_orchestrator.api.app import NAMESPACED_ROOT, create_app
from mec_orchestrator.api.deps import Caller, Namespace, allowed
from mec_orchestrator.api.settings import ApiSettings, AuthMode
from mec_orchestrator.operator import metrics as operator_metrics
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from tests.conftest import Kubectl

PROBLEM = "application/problem+json"

probe = APIRouter(prefix="/probe/v1")


@probe.get("/edgeapps", dependencies=[Depends(allowed("list", "edgeapps"))])
async def list_probe(ns: Namespace, who: Caller) -> dict[str, Any]:
    return {"namespace": ns, "user": who.user}


@probe.post("/echo")
async def echo(body: dict[str, int]) -> dict[str, int]:
    return body


def _app(state: OperatorState, settings: ApiSettings) -> httpx.AsyncClient:
    app = create_app(state, settings)
    app.include_router(probe)
    app.include_router(probe, prefix=NAMESPACED_ROOT)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def _offline_state() -> OperatorState:
    return OperatorState(
        OperatorSettings(standalone=True), Connection(server="https://127.0.0.1:1", ca_path=None)
    )


@pytest.fixture
async def open_api() -> AsyncIterator[httpx.AsyncClient]:
    async with _app(_offline_state(), ApiSettings(auth=AuthMode.NONE, max_body_bytes=2048)) as c:
        yield c


def _is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert set(body) <= {"type", "title", "status", "detail", "instance"}
    return body


async def test_unknown_paths_and_methods_are_problems(open_api: httpx.AsyncClient) -> None:
    body = _is_problem(await open_api.get("/no/such/path"), 404)
    assert body["instance"] == "/no/such/path"
    assert "/no/such/path" in body["detail"]
    body = _is_problem(await open_api.delete("/probe/v1/edgeapps"), 405)
    assert "DELETE" in body["detail"]


async def test_a_bad_body_is_a_400_naming_the_field(open_api: httpx.AsyncClient) -> None:
    body = _is_problem(await open_api.post("/probe/v1/echo", json={"count": "many"}), 400)
    assert "body.count" in body["detail"]
    body = _is_problem(
        await open_api.post(
            "/probe/v1/echo", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
    )
    assert "body" in body["detail"]


async def test_bodies_over_the_limit_are_refused(open_api: httpx.AsyncClient) -> None:
    big = {f"k{i}": i for i in range(400)}  # about 4 KiB of JSON, over the 2 KiB limit
    body = _is_problem(await open_api.post("/probe/v1/echo", json=big), 413)
    assert "2048" in body["detail"]
    _is_problem(
        await open_api.post("/probe/v1/echo", content=b"{}", headers={"content-length": "x"}), 400
    )


async def test_the_api_root_names_the_namespace(open_api: httpx.AsyncClient) -> None:
    bare = await open_api.get("/probe/v1/edgeapps")
    assert bare.json()["namespace"] == "default"
    named = await open_api.get("/namespaces/team-a/probe/v1/edgeapps")
    assert named.json()["namespace"] == "team-a"
    body = _is_problem(await open_api.get("/namespaces/Not_A_Name/probe/v1/edgeapps"), 404)
    assert "path.namespace" in body["detail"]


async def test_probes_answer_without_a_token() -> None:
    assert operator_metrics.RECONCILE_SECONDS  # registered, as the process's handlers do
    state = _offline_state()
    async with _app(state, ApiSettings()) as api:
        assert (await api.get("/healthz")).status_code == 200
        assert (await api.get("/readyz")).status_code == 503  # kopf has not started
        metrics = await api.get("/metrics")
        assert metrics.status_code == 200
        assert "mec_reconcile_seconds" in metrics.text  # the operator's metrics are served
        # An ETSI call while the operator is not up: 401 without a token, 503 with one.
        _is_problem(await api.get("/probe/v1/edgeapps"), 401)
        answer = await api.get("/probe/v1/edgeapps", headers={"authorization": "Bearer x"})
        assert _is_problem(answer, 503)
        assert answer.headers["retry-after"] == "1"


# Kubernetes RBAC decides, for real: ServiceAccounts, Roles and tokens on the control plane.


def _token(kubectl: Kubectl, namespace: str, account: str) -> str:
    return kubectl("create", "token", account, "-n", namespace, "--duration=10m").stdout.strip()


@pytest.fixture
async def rbac_api(
    crds_installed: ClusterInfo, api: client.ApiClient
) -> AsyncIterator[httpx.AsyncClient]:
    connection = from_kubeconfig(crds_installed.kubeconfig)
    state = OperatorState(OperatorSettings(standalone=True), connection)
    state.started(api)
    async with _app(state, ApiSettings()) as http:
        yield http


@pytest.mark.cluster
async def test_rbac_decides_for_rest_as_it_does_for_kubectl(
    rbac_api: httpx.AsyncClient, kubectl: Kubectl, namespace: str
) -> None:
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubectl("create", "serviceaccount", "stranger", "-n", namespace)
    kubectl(
        "create", "role", "edgeapp-reader", "-n", namespace,
        "--verb=get,list,watch", "--resource=edgeapps.mec.dev",
    )  # fmt: skip
    kubectl(
        "create", "rolebinding", "reader", "-n", namespace,
        "--role=edgeapp-reader", f"--serviceaccount={namespace}:reader",
    )  # fmt: skip
    path = f"/namespaces/{namespace}/probe/v1/edgeapps"
    reader = {"authorization": f"Bearer {_token(kubectl, namespace, 'reader')}"}
    stranger = {"authorization": f"Bearer {_token(kubectl, namespace, 'stranger')}"}

    ok = await rbac_api.get(path, headers=reader)
    assert ok.status_code == 200, ok.text
    user = f"system:serviceaccount:{namespace}:reader"
    assert ok.json() == {"namespace": namespace, "user": user}
    # kubectl agrees, asked the same question about the same account
    can = kubectl(
        "auth", "can-i", "list", "edgeapps.mec.dev", "-n", namespace,
        f"--as=system:serviceaccount:{namespace}:stranger", check=False,
    )  # fmt: skip
    assert can.stdout.strip() == "no"

    denied = _is_problem(await rbac_api.get(path, headers=stranger), 403)
    assert f"system:serviceaccount:{namespace}:stranger" in denied["detail"]
    assert "list edgeapps.mec.dev" in denied["detail"]
    other = f"/namespaces/other-{uuid.uuid4().hex[:6]}/probe/v1/edgeapps"
    _is_problem(await rbac_api.get(other, headers=reader), 403)  # the Role is per namespace
    _is_problem(await rbac_api.get(path, headers={"authorization": "Bearer forged"}), 401)
    _is_problem(await rbac_api.get(path), 401)
