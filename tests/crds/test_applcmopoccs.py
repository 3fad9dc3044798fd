"""The AppLcmOpOcc CRD on a real kube-apiserver, its model, and adapters/kube/lcm_ops.

The CRD file is applied with the others by `crds_installed`; these tests check the file (every
field described, every rule naming its field, the same fields, enums and bounds as the model),
that the server and the model accept the same good object and refuse the same bad ones naming
the same field, that the spec is immutable but for timeoutSeconds and request, that `kubectl
explain` and `kubectl get lcmop` show what they should, and that the status writer replaces the
whole status (a retry clears the error).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from mec_devtools.devcluster import ClusterInfo
from mec_orchestrator.adapters.kube import lcm_ops
from mec_orchestrator.model import (
    GROUP,
    VERSION,
    AppLcmOpOcc,
    AppLcmOpOccStatus,
    CancelMode,
    LcmError,
    LcmOperationState,
    LcmRequest,
    LcmRequestAction,
)
from tests.conftest import Kubectl
from tests.crds.test_crd_schema import ModelSchema, compare, walk
from tests.model.catalogue import DELETE, crds, describe, edited

pytestmark = pytest.mark.cluster

PLURAL = AppLcmOpOcc.PLURAL
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
CRD = crds()["AppLcmOpOcc"]
SCHEMA: dict[str, Any] = CRD["spec"]["versions"][0]["schema"]["openAPIV3Schema"]

GOOD: dict[str, Any] = {
    "apiVersion": "mec.dev/v1alpha1",
    "kind": "AppLcmOpOcc",
    "metadata": {"name": "ar-operate-1"},
    "spec": {
        "appInstanceId": "ar-navigator",
        "lcmOperation": "Operate",
        "changeStateTo": "Stopped",
        "operationParams": {"changeStateTo": "STOPPED", "stopType": "FORCEFUL"},
        "timeoutSeconds": 300,
        "request": {"action": "Cancel", "cancelMode": "Graceful", "sequence": 1},
    },
}

# (id, edits, the field both refusals name, the server's status code)
BAD: list[tuple[str, dict[str, object], str, int]] = [
    ("no-instance", {"spec.appInstanceId": DELETE}, "spec.appInstanceId", 422),
    ("instance-not-a-name", {"spec.appInstanceId": "Not_A_Name"}, "spec.appInstanceId", 422),
    ("unknown-operation", {"spec.lcmOperation": "Scale"}, "spec.lcmOperation", 422),
    ("operate-without-target", {"spec.changeStateTo": DELETE}, "changeStateTo", 422),
    ("target-without-operate", {"spec.lcmOperation": "Terminate"}, "changeStateTo", 422),
    ("unknown-target", {"spec.changeStateTo": "Paused"}, "spec.changeStateTo", 422),
    ("zero-timeout", {"spec.timeoutSeconds": 0}, "spec.timeoutSeconds", 422),
    ("long-timeout", {"spec.timeoutSeconds": 86401}, "spec.timeoutSeconds", 422),
    ("unknown-action", {"spec.request.action": "Rollback"}, "spec.request.action", 422),
    ("cancel-without-mode", {"spec.request.cancelMode": DELETE}, "cancelMode", 422),
    ("retry-with-mode", {"spec.request.action": "Retry"}, "cancelMode", 422),
    ("sequence-zero", {"spec.request.sequence": 0}, "spec.request.sequence", 422),
    ("unknown-field", {"spec.timeout": 3}, "timeout", 400),
]


@pytest.fixture
def custom(crds_installed: ClusterInfo, api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


async def dry_run(
    custom: client.CustomObjectsApi, obj: dict[str, Any], namespace: str
) -> dict[str, Any]:
    created: dict[str, Any] = await custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, obj, dry_run="All", field_validation="Strict"
    )
    return created


# -- the CRD file --------------------------------------------------------------------------------


def test_names_scope_and_columns() -> None:
    spec = CRD["spec"]
    assert CRD["metadata"]["name"] == f"{PLURAL}.{GROUP}"
    assert (spec["names"]["kind"], spec["names"]["plural"]) == ("AppLcmOpOcc", PLURAL)
    assert (spec["names"]["shortNames"], spec["names"]["categories"]) == (["lcmop"], ["mec"])
    assert spec["scope"] == "Namespaced"
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == (VERSION, True, True)
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Instance", "Operation", "State", "Age"]


def test_every_field_is_described_and_every_rule_names_its_field() -> None:
    assert SCHEMA["description"]
    undocumented = [p for p, sub in walk(SCHEMA) if p != "metadata" and not sub.get("description")]
    assert undocumented == []
    for path, sub in [("", SCHEMA), *walk(SCHEMA)]:
        for rule in sub.get("x-kubernetes-validations", []):
            field = (rule.get("fieldPath") or path).rsplit(".", 1)[-1]
            assert field in rule["message"], (path, rule)


@pytest.mark.parametrize("part", ["spec", "status"])
def test_crd_and_model_agree(part: str) -> None:
    ms = ModelSchema(AppLcmOpOcc.model_json_schema(by_alias=True, mode="validation"))
    assert compare(SCHEMA["properties"][part], ms.root["properties"][part], ms, part) == []


def test_the_comparison_sees_a_difference() -> None:
    ms = ModelSchema(AppLcmOpOcc.model_json_schema(by_alias=True, mode="validation"))
    crd = copy.deepcopy(SCHEMA["properties"]["status"])
    crd["properties"]["operationState"]["enum"].append("RolledBack")
    assert len(compare(crd, ms.root["properties"]["status"], ms, "status")) == 1


def test_the_etsi_names_of_the_states() -> None:
    assert [s.etsi for s in LcmOperationState] == [
        "PROCESSING", "COMPLETED", "FAILED_TEMP", "FAILED",
    ]  # fmt: skip
    assert [s.etsi for s in LcmOperationState if s.final] == ["COMPLETED", "FAILED"]
    assert CancelMode.from_etsi("FORCED") is CancelMode.FORCED


# -- against the API server ----------------------------------------------------------------------


async def test_a_good_object_round_trips_through_the_model(
    custom: client.CustomObjectsApi, namespace: str
) -> None:
    stored = await dry_run(custom, GOOD, namespace)
    assert stored["spec"] == GOOD["spec"]
    assert AppLcmOpOcc.model_validate(stored).to_dict()["spec"] == GOOD["spec"]


@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
async def test_a_bad_object_is_refused_by_the_server_and_the_model(
    custom: client.CustomObjectsApi, namespace: str, bad: tuple[str, dict[str, object], str, int]
) -> None:
    _, edits, field, status = bad
    obj = edited(GOOD, edits)
    with pytest.raises(ApiException) as refused:
        await dry_run(custom, obj, namespace)
    assert refused.value.body is not None
    answer = json.loads(refused.value.body)
    assert refused.value.status == status, answer["message"]
    assert field in answer["message"]
    with pytest.raises(ValidationError) as model_refused:
        AppLcmOpOcc.model_validate(obj)
    assert field in describe(model_refused.value)


async def test_only_the_timeout_and_the_request_change(
    kubectl: Kubectl, namespace: str, crds_installed: ClusterInfo
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=json.dumps(GOOD))
    for change, message in (
        ({"appInstanceId": "other"}, "spec.appInstanceId is immutable"),
        ({"lcmOperation": "Terminate", "changeStateTo": None}, "spec.lcmOperation is immutable"),
        ({"changeStateTo": "Started"}, "spec.changeStateTo is immutable"),
        ({"operationParams": {"changeStateTo": "STARTED"}}, "spec.operationParams is immutable"),
        ({"request": {"sequence": 0}}, "spec.request.sequence"),
        ({"request": None}, "spec.request cannot be removed"),
    ):
        refused = kubectl(
            "patch", "lcmop", "ar-operate-1", "-n", namespace, "--type=merge",
            "-p", json.dumps({"spec": change}), check=False,
        )  # fmt: skip
        assert refused.returncode != 0, change
        assert message in refused.stderr
    later = {
        "timeoutSeconds": 900,
        "request": {"action": "Fail", "cancelMode": None, "sequence": 2},
    }
    kubectl(
        "patch", "lcmop", "ar-operate-1", "-n", namespace, "--type=merge",
        "-p", json.dumps({"spec": later}),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("applcmopocc.spec.lcmOperation", ["Instantiate", "Terminate", "Operate", "Ready"]),
        ("lcmop.spec.timeoutSeconds", ["FailedTemp", "MEC_LCM_OPERATION_TIMEOUT_SECONDS"]),
        ("lcmop.spec.request.cancelMode", ["Graceful", "Forced"]),
        ("lcmop.status.operationState", ["Processing", "Completed", "FailedTemp", "Failed"]),
        ("lcmop.status.error", ["ProblemDetails", "Placed"]),
    ],
)
def test_kubectl_explain_teaches(
    kubectl: Kubectl, crds_installed: ClusterInfo, target: str, expected: list[str]
) -> None:
    text = " ".join(kubectl("explain", target).stdout.split())
    missing = [word for word in expected if word not in text]
    assert missing == [], text


async def test_the_status_writer_replaces_the_status_and_kubectl_shows_it(
    crds_installed: ClusterInfo, api: client.ApiClient, namespace: str, kubectl: Kubectl
) -> None:
    occ = AppLcmOpOcc.model_validate({**GOOD, "metadata": {"generateName": "ar-operate-"}})
    created = await lcm_ops.create_op_occ(api, namespace, occ)
    name = created.metadata.name
    assert name is not None
    assert name.startswith("ar-operate-")
    failed = AppLcmOpOccStatus(
        operation_state=LcmOperationState.FAILED_TEMP,
        start_time=NOW,
        state_entered_time=NOW,
        error=LcmError(title="Operation timed out", status=504, detail="Placed is False"),
        last_request=1,
    )
    stored = await lcm_ops.write_op_occ_status(api, namespace, name, failed)
    assert stored is not None
    assert stored.status == failed
    header, row = kubectl("get", "lcmop", "-n", namespace).stdout.strip().splitlines()
    assert header.split() == ["NAME", "INSTANCE", "OPERATION", "STATE", "AGE"]
    assert row.split()[:4] == [name, "ar-navigator", "Operate", "FailedTemp"]
    wide = kubectl("get", "lcmop", "-n", namespace, "-o", "wide").stdout
    assert "Placed is False" in wide

    retried = AppLcmOpOccStatus(
        operation_state=LcmOperationState.PROCESSING,
        start_time=NOW,
        state_entered_time=NOW,
        last_request=2,
    )
    stored = await lcm_ops.write_op_occ_status(api, namespace, name, retried)
    assert stored is not None
    assert stored.status == retried  # the error is gone, not merged
    assert stored.metadata.generation == created.metadata.generation

    request = LcmRequest(action=LcmRequestAction.FAIL, sequence=3)
    stale = stored.metadata.resource_version or ""
    changed = await lcm_ops.request_on_op_occ(api, namespace, name, request, stale)
    assert changed.spec.request == request  # the cancelMode of the cancel before is gone
    with pytest.raises(ApiException) as refused:
        await lcm_ops.request_on_op_occ(api, namespace, name, request, stale)
    assert refused.value.status == 409
    assert [o.metadata.name for o in await lcm_ops.list_op_occs(api, namespace)] == [name]
    assert await lcm_ops.list_op_occs(api, namespace, "other-app") == []
    assert await lcm_ops.write_op_occ_status(api, namespace, "gone", retried) is None
    await lcm_ops.delete_op_occ(api, namespace, name)
    assert await lcm_ops.get_op_occ(api, namespace, name) is None
