"""The chart as rendered: schema refusals, least privilege, restricted pods, labels, CRD policy.

`helm template` only (no cluster): what every install gets, checked object by object.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from tests.helm.chart import CHART, REPO, helm, of_kind, pod_specs, render, set_args

RECOMMENDED = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


@pytest.fixture(scope="module")
def default_objects() -> list[dict[str, Any]]:
    return render()


def test_helm_lint_passes_strictly() -> None:
    done = helm("lint", str(CHART), "--strict")
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"orchestrator.replicas": "0"}, "/orchestrator/replicas"),
        ({"agent.ports.grpc": "seventy"}, "/agent/ports/grpc"),
        ({"orchestrator.api.auth": "trust-me"}, "/orchestrator/api/auth"),
        ({"image.pullPolicy": "Sometimes"}, "/image/pullPolicy"),
        ({"orchestrator.rnis.url": "ftp://x"}, "/orchestrator/rnis/url"),
        ({"agent.accessPoints[0].id": "ap-1"}, "/agent/accessPoints/0"),
        ({"orchestratr.replicas": "2"}, "'orchestratr' not allowed"),
        ({"certificates.agentCertificateMaxSeconds": "60"}, "agentCertificateMaxSeconds"),
    ],
)
def test_bad_values_are_refused_naming_the_field(values: dict[str, str], complaint: str) -> None:
    done = helm("template", "x", str(CHART), *set_args(values), check=False)
    assert done.returncode != 0
    assert complaint in done.stderr


def test_rnis_without_a_callback_is_refused_naming_it() -> None:
    done = helm(
        "template", "x", str(CHART), *set_args({"orchestrator.rnis.url": "http://r"}), check=False
    )
    assert done.returncode != 0
    assert "orchestrator.rnis.callbackUri is required" in done.stderr


def test_every_object_carries_the_recommended_labels(
    default_objects: list[dict[str, Any]],
) -> None:
    for obj in default_objects:
        labels = obj["metadata"].get("labels") or {}
        missing = [label for label in RECOMMENDED if label not in labels]
        assert not missing, f"{obj['kind']} {obj['metadata']['name']} lacks {missing}"


def test_every_pod_meets_the_restricted_pod_security_standard(
    default_objects: list[dict[str, Any]],
) -> None:
    specs = pod_specs(render({"reflector.enabled": "true"}))
    assert {name for name, _ in specs} == {
        "mec-mec-orchestrator-orchestrator",
        "mec-mec-orchestrator-agent",
        "mec-mec-orchestrator-reflector",
        "mec-mec-orchestrator-test",
    }
    for name, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert not spec.get("hostNetwork"), name
        assert not spec.get("hostPID"), name
        assert not spec.get("hostIPC"), name
        for volume in spec.get("volumes") or []:
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "projected"}, name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert "hostPort" not in str(container.get("ports")), name
            assert container["resources"]["requests"], name
            assert container["resources"]["limits"]["memory"], name


def test_host_network_is_only_there_when_asked_for() -> None:
    agent = of_kind(render({"agent.hostNetwork": "true"}), "DaemonSet")[0]
    assert agent["spec"]["template"]["spec"]["hostNetwork"] is True


def test_crds_are_templates_kept_on_uninstall_unless_asked(
    default_objects: list[dict[str, Any]],
) -> None:
    crds = of_kind(default_objects, "CustomResourceDefinition")
    assert {c["metadata"]["name"] for c in crds} == {
        "edgeapps.mec.dev",
        "edgehosts.mec.dev",
        "zones.mec.dev",
        "apppackages.mec.dev",
        "applcmopoccs.mec.dev",
        "mecsubscriptions.mec.dev",
        "clusterkopfpeerings.kopf.dev",
    }
    for crd in crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    not_kept = of_kind(render({"crds.keep": "false"}), "CustomResourceDefinition")
    assert all(
        "helm.sh/resource-policy" not in (c["metadata"].get("annotations") or {}) for c in not_kept
    )
    assert of_kind(render({"crds.enabled": "false"}), "CustomResourceDefinition") == []


def test_each_replica_is_an_address_the_agents_try(default_objects: list[dict[str, Any]]) -> None:
    for replicas in ("1", "3"):
        objects = render({"orchestrator.replicas": replicas})
        agent = of_kind(objects, "DaemonSet")[0]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in agent["env"]}
        addresses = env["MEC_AGENT_ORCHESTRATOR"].split(",")
        assert addresses == [
            f"mec-mec-orchestrator-orchestrator-{i}.mec-mec-orchestrator-peers.mec-system.svc:50051"
            for i in range(int(replicas))
        ]
        assert bool(of_kind(objects, "PodDisruptionBudget")) == (replicas != "1")


def test_the_replica_priority_comes_from_the_pod_index(
    default_objects: list[dict[str, Any]],
) -> None:
    statefulset = of_kind(default_objects, "StatefulSet")[0]
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    index = next(e for e in env if e["name"] == "MEC_OPERATOR_POD_INDEX")
    path = index["valueFrom"]["fieldRef"]["fieldPath"]
    assert path == "metadata.labels['apps.kubernetes.io/pod-index']"


def test_the_values_reference_in_the_docs_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_values_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_numbers_reach_the_programs_as_plain_digits() -> None:
    """Helm turns large numbers into floats (2.592e+06): every value the programs parse as an
    integer must be rendered as one."""
    objects = render({"certificates.agentCertificateMaxSeconds": "31536000"})
    for name, spec in pod_specs(objects):
        for container in spec["containers"]:
            for variable in container.get("env") or []:
                assert "e+" not in str(variable.get("value", "")), (name, variable)
