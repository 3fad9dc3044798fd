"""An ETSI client that knows nothing of Kubernetes, against the real `mec-orchestrator run`.

It uses only the bare ETSI paths (the orchestrator's default namespace is set to the test's),
a bearer token (a ServiceAccount's, granted exactly the ClusterRole the README shows), plain
HTTP and the ETSI files to check every answer. It onboards a package, subscribes, instantiates
an app, learns it is ready from the notifications a separate receiver process gets, survives a
`kill -9` of the orchestrator (subscriptions and instances are Kubernetes resources), terminates
and deletes the app — while `kubectl` sees the same objects throughout.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from mec_devtools.devcluster import ClusterInfo
from tests.api.test_app_lcm import edge_topology
from tests.api.test_app_pkgm import a_zip, an_appd, create_body
from tests.callbacks.conftest import Receiver, Receivers
from tests.conftest import EDGE_HOSTS, Kubectl
from tests.etsi.conformance import EtsiSpec
from tests.helpers import eventually
from tests.operator.conftest import OperatorProcess, Topology

__all__ = ["edge_topology"]  # a fixture used here, defined beside the LCM tests

PKGM = EtsiSpec("MEC01002_AppPkgMgmt.yaml")
LCM = EtsiSpec("MEC01002_AppLcm.yaml")
ROLE_RESOURCES = (
    "apppackages.mec.dev,edgeapps.mec.dev,applcmopoccs.mec.dev,mecsubscriptions.mec.dev,"
    "zones.mec.dev"
)


class EtsiClient:
    """Plain HTTP with a bearer token; every answer checked against its ETSI file."""

    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def call(self, spec: EtsiSpec, method: str, path: str, status: int, **kwargs: Any) -> Any:
        answer = self.http.request(method, path, **kwargs)
        assert answer.status_code == status, f"{method} {path}: {answer.text}"
        body = answer.json() if answer.content else None
        spec.check(method, path, status, body)
        return answer


def _start(info: ClusterInfo, logs: Path, namespace: str, priority: int) -> OperatorProcess:
    env = {"MEC_API_DEFAULT_NAMESPACE": namespace, "MEC_LCM_POLL_SECONDS": "2"}
    return OperatorProcess(info, logs, priority=priority, env=env).start()


def _token(kubectl: Kubectl, namespace: str) -> str:
    kubectl("create", "serviceaccount", "etsi-client", "-n", namespace)
    role = f"etsi-client-{namespace}"
    kubectl(
        "create", "clusterrole", role, "--verb=get,list,watch,create,update,patch,delete",
        f"--resource={ROLE_RESOURCES}",
    )  # fmt: skip
    kubectl(
        "create", "clusterrolebinding", role, f"--clusterrole={role}",
        f"--serviceaccount={namespace}:etsi-client",
    )  # fmt: skip
    return kubectl("create", "token", "etsi-client", "-n", namespace).stdout.strip()


async def _completed(receiver: Receiver, operation: str, count: int = 1) -> dict[str, Any]:
    def done(records: list[dict[str, Any]]) -> bool:
        return len(_occurrences(records, operation)) >= count

    records = await receiver.wait_for(f"{operation} COMPLETED", done, within=60)
    return _occurrences(records, operation)[-1]


def _occurrences(records: list[dict[str, Any]], operation: str) -> list[dict[str, Any]]:
    return [
        r["body"]
        for r in records
        if r["body"].get("notificationType") == "AppLcmOpOccStateChangeSubscription"
        and r["body"].get("operationType") == operation
        and r["body"].get("operationState") == "COMPLETED"
    ]


@pytest.mark.cluster
async def test_an_etsi_client_onboards_instantiates_and_terminates_through_a_restart(  # noqa: PLR0915
    crds_installed: ClusterInfo,
    edge_topology: Topology,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    del edge_topology  # hosts and an access point for the app to be placed on
    receiver = await Receivers(tmp_path).start()
    first = _start(crds_installed, tmp_path, namespace, priority=410)
    second: OperatorProcess | None = None
    client = EtsiClient(f"http://127.0.0.1:{first.port}", _token(kubectl, namespace))
    try:
        # Onboard a package: create, upload the zip, enable.
        appd = an_appd()
        content = a_zip(appd)
        created = client.call(
            PKGM, "POST", "/app_pkgm/v1/onboarded_app_packages", 201, json=create_body(content)
        ).json()
        package = f"/app_pkgm/v1/onboarded_app_packages/{created['id']}"
        client.call(
            PKGM, "PUT", f"{package}/package_content", 202,
            content=content, headers={"Content-Type": "application/zip"},
        )  # fmt: skip
        package = f"/app_pkgm/v1/onboarded_app_packages/{appd['appDId']}"
        info = client.call(PKGM, "GET", package, 200).json()
        assert info["onboardingState"] == "ONBOARDED"
        if info["operationalState"] != "ENABLED":
            client.call(PKGM, "PATCH", package, 200, json={"operationalState": "ENABLED"})
        assert kubectl("get", "apkg", "-n", namespace, "-o", "name").stdout.strip()

        # Subscribe to completed lifecycle operations, then create and instantiate an instance.
        subscription = client.call(
            LCM, "POST", "/app_lcm/v1/subscriptions", 201,
            json={
                "subscriptionType": "AppLcmOpOccStateChangeSubscription",
                "callbackUri": receiver.url,
                "appLcmOpOccSubscriptionFilter": {"operationStates": "COMPLETED"},
            },
        ).json()  # fmt: skip
        instance = client.call(
            LCM, "POST", "/app_lcm/v1/app_instances", 201,
            json={"appDId": appd["appDId"], "appInstanceName": "street cameras"},
        ).json()  # fmt: skip
        path = f"/app_lcm/v1/app_instances/{instance['id']}"
        hosts = [{"hostId": host} for host in EDGE_HOSTS]  # the orchestrator picks among them
        client.call(LCM, "POST", f"{path}/instantiate", 202, json={"selectedMECHostInfo": hosts})
        done = await _completed(receiver, "INSTANTIATE")
        assert done["appInstanceId"] == instance["id"]
        stored = json.loads(
            kubectl("get", "ea", instance["id"], "-n", namespace, "-o", "json").stdout
        )
        ready = [c for c in stored["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True"  # the notification came once it was Ready
        assert client.call(LCM, "GET", path, 200).json()["instantiationState"] == "INSTANTIATED"

        # kill -9 of the orchestrator: a new one serves the same subscriptions and instances.
        first.kill(signal.SIGKILL)
        second = _start(crds_installed, tmp_path, namespace, priority=420)
        client.http.base_url = httpx.URL(f"http://127.0.0.1:{second.port}")
        kept = client.call(LCM, "GET", f"/app_lcm/v1/subscriptions/{subscription['id']}", 200)
        assert kept.json()["callbackUri"] == receiver.url
        client.call(LCM, "POST", f"{path}/terminate", 202, json={"terminationType": "FORCEFUL"})
        await _completed(receiver, "TERMINATE")

        async def no_instance_left() -> bool:
            found = kubectl("get", "deploy", "-n", namespace, "-o", "name").stdout.split()
            return not [d for d in found if instance["id"] in d]

        await eventually(no_instance_left, within=30)
        client.call(LCM, "DELETE", path, 204)
        client.call(LCM, "GET", path, 404)

        async def edge_app_gone() -> bool:  # the operator's finalizer lets it go
            return not kubectl("get", "ea", "-n", namespace, "-o", "name").stdout.strip()

        await eventually(edge_app_gone, within=30)
        # Without a token nothing is served.
        async with httpx.AsyncClient() as nobody:
            anonymous = await nobody.get(f"http://127.0.0.1:{second.port}/app_lcm/v1/app_instances")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"].startswith("application/problem+json")
    finally:
        client.http.close()
        for process in (first, second):
            if process is not None:
                process.stop()
        await receiver.kill()
