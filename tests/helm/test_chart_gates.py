"""The chart's quality gates, with tools we did not write: helm-unittest, kubeconform, kube-score.

kubeconform checks every rendered object strictly against the Kubernetes 1.36 schemas (offline,
from the kubernetes-validate wheel) and the examples against our CRDs' own schemas; kube-score
checks best practice, with the two checks we decline said and explained below.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mec_devtools.devcluster import DevClusterSettings, binaries, helm_plugins, schemas
from mec_devtools.devcluster.versions import kube_score_tool, kubeconform_tool
from tests.helm.chart import CHART, REPO, helm, helm_binary, render_text

OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
EVERYTHING_ON = {
    "reflector.enabled": "true",
    "agent.accessPoints[0].id": "ap-1",
    "agent.accessPoints[0].address": "10.1.0.1",
    "orchestrator.rnis.url": "http://rnis:8080/rni/v2",
    "orchestrator.rnis.callbackUri": "http://mec-api:8080",
}

# kube-score checks declined, and why (docs/install.md says the same):
KUBE_SCORE_DECLINED = (
    # No CPU limit: CFS throttling adds latency to placement and handover decisions.
    "--ignore-container-cpu-limit",
    # IfNotPresent: edge sites keep running on a broken backhaul; pin tags or digests instead.
    "--ignore-test",
    "container-image-pull-policy",
)
# Warnings accepted: egress is open (the API server, the RNIS and subscribers' callbacks are
# wherever the operator puts them).
ACCEPTED_WARNING = "does not have a matching egress NetworkPolicy"


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env={**os.environ, **OFFLINE, **(env or {})},
        timeout=300,
        check=False,
    )


def test_helm_unittest_suites_pass() -> None:
    done = run([str(helm_binary()), "unittest", str(CHART)], env=helm_plugins.plugin_env(base={}))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Tests:" in done.stdout
    assert "failed" not in done.stdout.split("Tests:")[1].splitlines()[0]


@pytest.fixture(scope="module")
def kubeconform() -> Path:
    return binaries.ensure((kubeconform_tool(),), DevClusterSettings())["kubeconform"]


@pytest.mark.parametrize("values", [{}, EVERYTHING_ON], ids=["defaults", "everything-on"])
def test_every_rendered_object_is_valid_kubernetes_strictly(
    kubeconform: Path, values: dict[str, str], tmp_path: Path
) -> None:
    rendered = tmp_path / "chart.yaml"
    rendered.write_text(render_text(values))
    done = run(
        [
            str(kubeconform),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-schema-location",
            str(schemas.ensure_schemas()),
            str(rendered),
        ]
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert report["summary"]["invalid"] == 0
    assert report["summary"]["errors"] == 0
    assert report["summary"]["skipped"] == 0  # every kind had a schema
    assert report["summary"]["valid"] >= 20


def strict(schema: Any) -> Any:
    """The schema with additionalProperties false wherever properties are listed (as the
    strict schemas of openapi2jsonschema), except where the CRD keeps unknown fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if "properties" in out and not out.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def crd_schemas(directory: Path) -> Path:
    """Our CRDs' openAPIV3Schema as kubeconform schema files: <group>/<kind>_<version>.json."""
    for path in sorted((REPO / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group = crd["spec"]["group"]
        kind = crd["spec"]["names"]["kind"].lower()
        for version in crd["spec"]["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            for field in ("apiVersion", "kind"):
                schema["properties"].setdefault(field, {"type": "string"})
            schema["properties"].setdefault("metadata", {"type": "object"})
            target = directory / group / f"{kind}_{version['name']}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(schema))
    return directory


def test_the_examples_are_valid_against_our_crds_strictly(
    kubeconform: Path, tmp_path: Path
) -> None:
    location = crd_schemas(tmp_path / "crd-schemas")
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.yaml"))
    done = run(
        [
            str(kubeconform),
            "-strict",
            "-summary",
            "-output",
            "json",
            "-schema-location",
            str(schemas.ensure_schemas()),
            "-schema-location",
            f"{location}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
            *examples,
        ]
    )
    report = json.loads(done.stdout)
    assert done.returncode == 0, report
    assert report["summary"]["skipped"] == 0
    assert report["summary"]["valid"] >= len(examples)


def test_an_example_with_a_typo_fails_against_our_crds(kubeconform: Path, tmp_path: Path) -> None:
    location = crd_schemas(tmp_path / "crd-schemas")
    edgeapp = yaml.safe_load((REPO / "examples" / "edgeapp-ar-navigator.yaml").read_text())
    edgeapp["spec"]["latency"]["maxMss"] = 5
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(edgeapp))
    done = run(
        [
            str(kubeconform),
            "-strict",
            "-schema-location",
            f"{location}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json",
            str(bad),
        ]
    )
    assert done.returncode != 0
    assert "maxMss" in done.stdout


def test_kube_score_finds_nothing_critical(tmp_path: Path) -> None:
    rendered = tmp_path / "chart.yaml"
    rendered.write_text(render_text(EVERYTHING_ON))
    kube_score = binaries.ensure((kube_score_tool(),), DevClusterSettings())["kube-score"]
    done = run(
        [str(kube_score), "score", "--output-format", "ci", *KUBE_SCORE_DECLINED, str(rendered)]
    )
    findings = [
        line for line in done.stdout.splitlines() if not line.startswith(("[OK]", "[SKIPPED]"))
    ]
    unexpected = [line for line in findings if ACCEPTED_WARNING not in line]
    assert unexpected == [], "\n".join(unexpected)
    assert any("[OK]" in line for line in done.stdout.splitlines())


def test_a_packaged_chart_carries_the_crds_rules_and_dashboards(tmp_path: Path) -> None:
    helm("package", str(CHART), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("mec-orchestrator-*.tgz")
    listing = subprocess.run(
        ["tar", "tzf", str(package)], capture_output=True, text=True, check=True
    ).stdout.split()
    for wanted in (
        "mec-orchestrator/files/crds/edgeapps.mec.dev.yaml",
        "mec-orchestrator/files/rbac/orchestrator-cluster.yaml",
        "mec-orchestrator/values.schema.json",
        "mec-orchestrator/templates/tests/selftest.yaml",
    ):
        assert wanted in listing
