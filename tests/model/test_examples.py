"""Every example parses into its model, round-trips, and the generated ones are current."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from typing import Any

import pytest

from mec_devtools.runtime import is_project_image
from mec_devtools.sim.topology import melbourne_sites
from mec_orchestrator.model import (
    AppPackage,
    ContextTransfer,
    EdgeApp,
    EdgeHost,
    MobilityLevel,
    Zone,
    parse_resource,
)
from tests.model.catalogue import EXAMPLES_DIR, REPO, example, example_documents

EXAMPLES = example_documents()


def test_there_are_examples_of_every_kind() -> None:
    kinds = {doc["kind"] for _, doc in EXAMPLES}
    assert kinds == {"EdgeApp", "EdgeHost", "Zone", "AppPackage"}


@pytest.mark.parametrize(("name", "doc"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_example_parses_and_round_trips(name: str, doc: dict[str, Any]) -> None:
    model = parse_resource(doc)
    assert model.kind == doc["kind"]
    assert model.to_dict() == doc
    assert type(model).model_validate(model.to_dict()) == model
    assert model.model_dump(by_alias=True, exclude_none=True) == doc


def test_ar_example_is_a_10ms_app_that_follows_its_users() -> None:
    app = EdgeApp.model_validate(example("edgeapp-ar-navigator.yaml"))
    assert app.spec.latency.max_ms == 10
    assert app.spec.template is not None
    assert app.spec.app_package_ref is None
    assert app.spec.mobility.level is MobilityLevel.WITHOUT_CONFIRMATION
    assert app.spec.mobility.context_transfer is ContextTransfer.MEC_ASSISTED


def test_reference_app_example_runs_the_shipped_console_script() -> None:
    app = EdgeApp.model_validate(example("edgeapp-reference-anchors.yaml"))
    assert app.spec.template is not None
    (container,) = app.spec.template.spec.containers
    assert is_project_image(container.image)  # the emulated hosts run it for real
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    command = (container.model_extra or {})["command"]
    assert command[0] in scripts
    assert app.spec.placement.max_users_per_instance == 200


def test_package_example_and_its_edgeapp_agree() -> None:
    package = AppPackage.model_validate(example("apppackage-video-analytics.yaml"))
    app = EdgeApp.model_validate(example("edgeapp-video-analytics.yaml"))
    assert app.spec.app_package_ref is not None
    assert app.spec.app_package_ref.name == package.metadata.name
    assert app.spec.app_d_id == package.spec.app_d_id
    hosts = {h["metadata"]["name"] for _, h in EXAMPLES if h["kind"] == "EdgeHost"}
    assert set(app.spec.placement.hosts or []) <= hosts


def test_generated_topology_covers_every_site_once() -> None:
    hosts = [EdgeHost.model_validate(d) for _, d in EXAMPLES if d["kind"] == "EdgeHost"]
    zones = [Zone.model_validate(d) for _, d in EXAMPLES if d["kind"] == "Zone"]
    assert len(hosts) == 6
    assert {h.spec.zone for h in hosts} == {z.metadata.name for z in zones}
    for host in hosts:
        assert host.spec.node_selector == {"mec.dev/edge-host": host.metadata.name}
    access_points = [ap.id for z in zones for ap in z.spec.access_points]
    assert sorted(access_points) == sorted(f"ap-{s.site_id}" for s in melbourne_sites())
    reflectors = [ap.probe_reflector for z in zones for ap in z.spec.access_points]
    assert len(set(reflectors)) == len(reflectors)


def test_generated_examples_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr
