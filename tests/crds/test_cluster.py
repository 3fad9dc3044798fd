"""The CRDs on a real kube-apiserver: installed, accept the examples, refuse the bad objects.

Every test here uses the session control plane (tests/conftest.py) with the CRDs applied
(tests/crds/conftest.py). Bad objects are sent as server-side dry runs; the examples are both
dry-run (to compare the server's defaulting with the models') and created for real (for the
printer columns, short names and the `mec` category).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.model import (
    GROUP,
    KINDS,
    VERSION,
    AccessPointRtt,
    ConditionStatus,
    EdgeApp,
    EdgeAppConditionType,
    EdgeAppStatus,
    EdgeHost,
    EdgeHostStatus,
    Instance,
    InstantiationState,
    NewCondition,
    OperationalState,
    Resources,
    parse_resource,
    set_condition,
)
from tests.conftest import Kubectl
from tests.model.catalogue import (
    BAD_CASES,
    EXAMPLES_DIR,
    BadCase,
    crds,
    describe,
    example,
    example_documents,
)

EXAMPLES = example_documents()
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


async def dry_run_create(
    custom: client.CustomObjectsApi, obj: dict[str, Any], namespace: str
) -> dict[str, Any]:
    """The object as the server would store it (defaults applied), or ApiException."""
    model = KINDS[obj["kind"]]
    if model.NAMESPACED:
        created: dict[str, Any] = await custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, model.PLURAL, obj, dry_run="All", field_validation="Strict"
        )
    else:
        created = await custom.create_cluster_custom_object(
            GROUP, VERSION, model.PLURAL, obj, dry_run="All", field_validation="Strict"
        )
    return created


def answer(error: ApiException) -> dict[str, Any]:
    """The Status object the API server answered with."""
    assert error.body is not None
    status: dict[str, Any] = json.loads(error.body)
    return status


def test_every_crd_is_established(crds_installed: ClusterInfo, kubectl: Kubectl) -> None:
    for crd in crds().values():
        name = crd["metadata"]["name"]
        got = json.loads(kubectl("get", "crd", name, "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
        assert conditions["Established"] == "True", name
        assert conditions["NamesAccepted"] == "True", name
        assert got["status"]["acceptedNames"]["categories"] == ["mec"]


@pytest.mark.parametrize(("name", "doc"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
async def test_example_is_accepted_and_defaulted_as_the_model_does(
    custom: client.CustomObjectsApi, namespace: str, name: str, doc: dict[str, Any]
) -> None:
    created = await dry_run_create(custom, doc, namespace)
    assert created["spec"] == doc["spec"]
    assert created["spec"] == parse_resource(doc).to_dict()["spec"]
    assert parse_resource(created).to_dict()["spec"] == doc["spec"]


async def test_minimal_edgeapp_gets_the_models_defaults(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    minimal = example("edgeapp-ar-navigator.yaml")
    for optional in ("mobility", "placement", "lifecycle", "operationalState"):
        del minimal["spec"][optional]
    created = await dry_run_create(custom, minimal, namespace)
    assert created["spec"] == EdgeApp.model_validate(minimal).to_dict()["spec"]
    assert created["spec"]["mobility"]["level"] == "WithoutConfirmation"
    assert created["spec"]["placement"]["idleSeconds"] == 300


@pytest.mark.parametrize("case", BAD_CASES, ids=[c.id for c in BAD_CASES])
async def test_bad_object_is_refused_by_the_server_and_the_models(
    custom: client.CustomObjectsApi, namespace: str, case: BadCase
) -> None:
    obj = case.object()
    with pytest.raises(ApiException) as refused:
        await dry_run_create(custom, obj, namespace)
    status = answer(refused.value)
    assert refused.value.status == case.status, status["message"]
    if case.status == 422:
        assert status["reason"] == "Invalid"
    assert case.field in status["message"]
    with pytest.raises(ValidationError) as model_refused:
        parse_resource(obj)
    assert case.field in describe(model_refused.value)


def test_appdid_is_immutable(kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR / "edgeapp-ar-navigator.yaml"))
    patch = json.dumps({"spec": {"appDId": "another-app"}})
    refused = kubectl(
        "patch", "ea", "ar-navigator", "-n", namespace, "--type=merge", "-p", patch, check=False
    )
    assert refused.returncode != 0
    assert "spec.appDId is immutable" in refused.stderr
    unchanged = kubectl(
        "patch",
        "ea",
        "ar-navigator",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"spec": {"appName": "ar-navigator-2"}}),
    )
    assert unchanged.returncode == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            "edgeapp.spec.mobility",
            ["MEC 021", "level", "contextTransfer", "hysteresisMs", "minDwellSeconds", "ping-pong"],
        ),
        ("ea.spec.mobility.level", ["NotAllowed", "WithConfirmation", "WithoutConfirmation"]),
        ("ea.spec.latency", ["appLatency", "maxMs", "milliseconds"]),
        ("ea.spec.placement", ["selectedMECHostInfo", "warmStandby", "maxInstances"]),
        ("ea.status.conditions", ["LatencySLOMet", "HandoverInProgress", "lastTransitionTime"]),
        ("edgehost.spec", ["nodeSelector", "agentEndpoint", "mec.dev/edge-host", "capacity"]),
        ("eh.status.accessPointRtt", ["p50Ms", "p95Ms", "lastSeen", "probe reflector"]),
        ("zone.spec.accessPoints", ["MEC 013", "probeReflector", "connectionType"]),
        ("apppackage.status", ["onboardingState", "operationalState", "usageState"]),
    ],
)
def test_kubectl_explain_teaches(
    kubectl: Kubectl, crds_installed: ClusterInfo, target: str, expected: list[str]
) -> None:
    text = " ".join(kubectl("explain", target).stdout.split())
    missing = [word for word in expected if word not in text]
    assert missing == [], text


def _columns(output: str) -> list[list[str]]:
    return [line.split() for line in output.strip().splitlines()]


def test_kubectl_get_ea_shows_the_printer_columns(
    kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo
) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES_DIR / "edgeapp-ar-navigator.yaml"))
    status = EdgeAppStatus(
        instantiation_state=InstantiationState.INSTANTIATED,
        operational_state=OperationalState.STARTED,
        instances=[
            Instance(
                host="site-301896",
                deployment="ar-navigator-site-301896",
                ready=True,
                users=12,
                endpoint="10.96.0.10:7443",
            ),
            Instance(host="site-134386", deployment="ar-navigator-site-134386", users=3),
        ],
        conditions=set_condition(
            [],
            NewCondition(
                type=EdgeAppConditionType.LATENCY_SLO_MET,
                status=ConditionStatus.TRUE,
                reason="AllUsersWithinBudget",
                message="p95 6.2 ms, budget 10 ms",
                observed_generation=1,
            ),
            NOW,
        ),
        observed_generation=1,
    ).summarized()
    kubectl(
        "patch", "ea", "ar-navigator", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status.to_dict()}),
    )  # fmt: skip
    table = _columns(kubectl("get", "ea", "-n", namespace).stdout)
    assert table[0] == ["NAME", "HOSTS", "USERS", "READY", "SLO", "AGE"]
    assert table[1][:5] == ["ar-navigator", "site-134386,site-301896", "15", "1/2", "True"]
    wide = _columns(kubectl("get", "edgeapps", "-n", namespace, "-o", "wide").stdout)
    assert wide[0] == ["NAME", "HOSTS", "USERS", "READY", "SLO", "BUDGET-MS", "MOBILITY", "AGE"]
    assert wide[1][5:7] == ["10", "WithoutConfirmation"]
    stored = EdgeApp.model_validate_json(
        kubectl("get", "ea", "ar-navigator", "-n", namespace, "-o", "json").stdout
    )
    assert stored.status == status


def test_status_written_by_the_models_round_trips(
    crds_installed: ClusterInfo, kubectl: Kubectl
) -> None:
    host = EdgeHost.model_validate(example("edgehosts.yaml"))
    host = host.model_copy(update={"metadata": host.metadata.model_copy(update={"name": "rt-1"})})
    status = EdgeHostStatus(
        agent_connected=True,
        last_heartbeat_time=NOW,
        agent_version="0.1.0",
        allocatable=Resources(instances=19, users=488, cpu="15500m", memory="31Gi"),
        access_point_rtt=[
            AccessPointRtt(access_point_id="ap-10003026", p50_ms=0.4, p95_ms=0.9, last_seen=NOW),
            AccessPointRtt(access_point_id="ap-11590", p50_ms=1.2, p95_ms=2.5, last_seen=NOW),
        ],
    )

    def patch_status(value: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        body = json.dumps({"status": value})
        return kubectl(
            "patch", "edgehost", "rt-1", "--subresource=status", "--type=merge", "-p", body,
            check=False,
        )  # fmt: skip

    kubectl("create", "-f", "-", stdin=host.model_dump_json(by_alias=True, exclude_none=True))
    try:
        assert patch_status(status.to_dict()).returncode == 0
        stored = EdgeHost.model_validate_json(kubectl("get", "eh", "rt-1", "-o", "json").stdout)
        assert stored.status == status
        assert stored.spec == host.spec
        # A status the models refuse is refused by the server too (422 Invalid).
        bad = status.to_dict()
        bad["accessPointRtt"][1]["p95Ms"] = 0.5
        refused = patch_status(bad)
        assert refused.returncode != 0
        assert 'The EdgeHost "rt-1" is invalid' in refused.stderr
        assert "status.accessPointRtt[1].p95Ms" in refused.stderr
        with pytest.raises(ValidationError, match="p95Ms"):
            EdgeHostStatus.model_validate(bad)
    finally:
        kubectl("delete", "edgehost", "rt-1", "--ignore-not-found")


@pytest.fixture
def all_examples_created(
    kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo
) -> Iterator[None]:
    """Every example created in the namespace; the cluster-scoped ones deleted afterwards."""
    try:
        for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
            kubectl("apply", "-n", namespace, "-f", str(path))
        yield
    finally:
        for name in ("edgehosts.yaml", "zones.yaml"):
            kubectl("delete", "--ignore-not-found", "--wait=false", "-f", str(EXAMPLES_DIR / name))


@pytest.mark.usefixtures("all_examples_created")
def test_short_names_category_and_selectable_fields(kubectl: Kubectl, namespace: str) -> None:
    listed = kubectl("get", "mec", "-A", "-o", "name").stdout.split()
    kinds = {line.split("/")[0] for line in listed}
    assert {"edgeapp.mec.dev", "edgehost.mec.dev", "zone.mec.dev", "apppackage.mec.dev"} <= kinds
    # other tests may leave subscriptions or operation records: the category holds only ours
    assert kinds <= {f"{kind.lower()}.mec.dev" for kind in KINDS}
    assert len(kubectl("get", "eh", "-o", "name").stdout.split()) >= 6
    assert len(kubectl("get", "mz", "-o", "name").stdout.split()) >= 6
    assert kubectl("get", "apkg", "-n", namespace, "-o", "name").stdout.split() == [
        "apppackage.mec.dev/video-analytics"
    ]
    assert len(kubectl("get", "ea", "-n", namespace, "-o", "name").stdout.split()) == 3
    in_zone = kubectl("get", "eh", "--field-selector", "spec.zone=zone-304365", "-o", "name")
    assert in_zone.stdout.split() == ["edgehost.mec.dev/site-304365"]
    using = kubectl(
        "get", "ea", "-n", namespace, "-o", "name",
        "--field-selector", "spec.appPackageRef.name=video-analytics",
    )  # fmt: skip
    assert using.stdout.split() == ["edgeapp.mec.dev/video-analytics"]
    table = _columns(kubectl("get", "eh").stdout)
    assert table[0] == ["NAME", "ZONE", "AGENT", "HEARTBEAT", "AGE"]
    # What the server stores parses back into the models and equals the examples.
    for _, doc in EXAMPLES:
        args = ["get", doc["kind"].lower(), doc["metadata"]["name"], "-o", "json"]
        if KINDS[doc["kind"]].NAMESPACED:
            args += ["-n", namespace]
        stored = parse_resource(json.loads(kubectl(*args).stdout))
        assert stored.to_dict()["spec"] == doc["spec"]
