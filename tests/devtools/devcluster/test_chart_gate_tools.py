"""The chart's gate tools, for real and offline: kubeconform with the cached Kubernetes 1.36
schemas, kube-score, and `helm unittest` from the project's own plugin directory.

They are built by `devcluster build` (the test command runs it first), so here they are cached.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mec_devtools.devcluster import DevClusterSettings, binaries, helm_plugins, schemas
from mec_devtools.devcluster.versions import kube_score_tool, kubeconform_tool

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                ]
            },
        },
    },
}

OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def kubeconform() -> Path:
    return binaries.ensure((kubeconform_tool(),), DevClusterSettings())["kubeconform"]


def _kubeconform(binary: Path, manifest: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump(manifest))
    done = subprocess.run(
        [
            str(binary),
            "-strict",
            "-summary",
            "-schema-location",
            str(schemas.ensure_schemas()),
            str(path),
        ],
        env={**os.environ, **OFFLINE},  # any download would fail
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_kubeconform_strict_accepts_a_valid_deployment_offline(
    kubeconform: Path, tmp_path: Path
) -> None:
    out = _kubeconform(kubeconform, DEPLOYMENT, tmp_path)
    assert out.startswith("exit 0"), out
    assert "Valid: 1, Invalid: 0, Errors: 0, Skipped: 0" in out


def test_kubeconform_strict_refuses_an_unknown_field_naming_it(
    kubeconform: Path, tmp_path: Path
) -> None:
    bad = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    out = _kubeconform(kubeconform, bad, tmp_path)
    assert out.startswith("exit 1"), out
    assert "imagePullPolcy" in out
    assert "Invalid: 1" in out


def test_kubeconform_refuses_a_wrong_type(kubeconform: Path, tmp_path: Path) -> None:
    bad = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    bad["spec"]["replicas"] = "two"
    out = _kubeconform(kubeconform, bad, tmp_path)
    assert out.startswith("exit 1"), out
    assert "replicas" in out


def test_kube_score_flags_a_deployment_without_resource_limits(tmp_path: Path) -> None:
    binary = binaries.ensure((kube_score_tool(),), DevClusterSettings())["kube-score"]
    path = tmp_path / "deployment.yaml"
    path.write_text(yaml.safe_dump(DEPLOYMENT))
    done = subprocess.run(
        [str(binary), "score", "--output-format", "ci", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[CRITICAL] web apps/v1/Deployment: (web) CPU limit is not set" in done.stdout


def _chart(root: Path, replicas_template: str) -> Path:
    chart = root / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "tests").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: gated\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: 3\n")
    (chart / "templates" / "deployment.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: gated\n"
        f"spec:\n  replicas: {replicas_template}\n"
    )
    (chart / "tests" / "deployment_test.yaml").write_text(
        "suite: deployment\ntemplates: [templates/deployment.yaml]\ntests:\n"
        "  - it: takes replicas from the values\n    asserts:\n"
        "      - equal: {path: spec.replicas, value: 3}\n"
    )
    return chart


@pytest.mark.parametrize(("template", "passes"), [("{{ .Values.replicas }}", True), ("1", False)])
def test_helm_unittest_runs_from_the_projects_plugin_directory(
    tmp_path: Path, template: str, passes: bool
) -> None:
    chart = _chart(tmp_path, template)
    home = tmp_path / "home"  # the user's own plugin directory must stay untouched
    env = helm_plugins.plugin_env(base={**os.environ, "HOME": str(home), **OFFLINE})
    assert Path(env["HELM_PLUGINS"]).is_relative_to(DevClusterSettings().cache_dir)
    done = subprocess.run(
        ["helm", "unittest", str(chart)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert (done.returncode == 0) is passes, out
    assert ("Tests:       1 passed" in out) is passes, out
    assert not (home / ".local" / "share" / "helm" / "plugins").exists()


def _devcluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mec_orchestrator", "devcluster", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_devcluster_path_names_the_gate_tools_and_directories() -> None:
    schema_dir = _devcluster("path", "kubernetes-schemas")
    assert schema_dir.returncode == 0, schema_dir.stderr
    assert Path(schema_dir.stdout.strip()) == schemas.ensure_schemas()
    assert (
        Path(schema_dir.stdout.strip()) / "master-standalone-strict" / "deployment-apps-v1.json"
    ).is_file()
    plugins = _devcluster("path", "helm-plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert (Path(plugins.stdout.strip()) / "unittest" / "plugin.yaml").is_file()
    for binary in ("kubeconform", "kube-score", "untt", "kine"):
        found = _devcluster("path", binary)
        assert found.returncode == 0, found.stderr
        assert Path(found.stdout.strip()).name == binary
    unknown = _devcluster("path", "kubeval")
    assert unknown.returncode != 0
    assert "unknown binary 'kubeval'" in unknown.stderr
    assert "kubernetes-schemas" in unknown.stderr
