"""Shared test data: the examples, the CRDs, and a catalogue of bad objects.

The bad objects are small edits of the examples, each breaking one rule, with the field path that
a refusal must name. The model tests check that the models refuse each one, the CRD tests that
the real API server does, so the two stay in step.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from mec_orchestrator.model import field_path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO / "examples"
CRDS_DIR = REPO / "crds"

DELETE = object()


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    """(id, object) of every object in every example file, id = `file#index`."""
    return [
        (f"{path.name}#{i}", doc)
        for path in sorted(EXAMPLES_DIR.glob("*.yaml"))
        for i, doc in enumerate(load_yaml_documents(path))
    ]


def example(name: str, index: int = 0) -> dict[str, Any]:
    return load_yaml_documents(EXAMPLES_DIR / name)[index]


def crds() -> dict[str, dict[str, Any]]:
    """Kind -> CRD object, from crds/."""
    found = {}
    for path in sorted(CRDS_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        found[crd["spec"]["names"]["kind"]] = crd
    return found


def _steps(path: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def edited(obj: dict[str, Any], edits: dict[str, object]) -> dict[str, Any]:
    """A deep copy of obj with each `a.b[0].c` path set to its value (or deleted)."""
    result = copy.deepcopy(obj)
    for path, value in edits.items():
        *parents, last = _steps(path)
        target: Any = result
        for step in parents:
            target = target[step]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return result


@dataclass(frozen=True)
class BadCase:
    """An example with one rule broken; `field` is the path text both refusals must name."""

    id: str
    example: str
    edits: dict[str, object]
    field: str
    status: int = 422  # what the API server answers (400 for unknown fields)

    def object(self) -> dict[str, Any]:
        return edited(example(self.example), self.edits)


AR = "edgeapp-ar-navigator.yaml"
VA = "edgeapp-video-analytics.yaml"
EH = "edgehosts.yaml"
ZN = "zones.yaml"
PKG = "apppackage-video-analytics.yaml"

BAD_CASES: tuple[BadCase, ...] = (
    BadCase(
        "edgeapp-template-and-package",
        AR,
        {"spec.appPackageRef": {"name": "video-analytics"}},
        "spec.appPackageRef",
    ),
    BadCase("edgeapp-no-software", VA, {"spec.appPackageRef": DELETE}, "spec.template"),
    BadCase("edgeapp-zero-latency-budget", AR, {"spec.latency.maxMs": 0}, "spec.latency.maxMs"),
    BadCase(
        "edgeapp-negative-latency-budget", AR, {"spec.latency.maxMs": -5}, "spec.latency.maxMs"
    ),
    BadCase("edgeapp-huge-latency-budget", AR, {"spec.latency.maxMs": 20000}, "spec.latency.maxMs"),
    BadCase("edgeapp-no-latency", AR, {"spec.latency": DELETE}, "spec.latency"),
    BadCase("edgeapp-no-appdid", AR, {"spec.appDId": DELETE}, "spec.appDId"),
    BadCase("edgeapp-bad-appdid", AR, {"spec.appDId": "not a uuid!"}, "spec.appDId"),
    BadCase(
        "edgeapp-unknown-mobility-level",
        AR,
        {"spec.mobility.level": "Sometimes"},
        "spec.mobility.level",
    ),
    BadCase(
        "edgeapp-unknown-context-transfer",
        AR,
        {"spec.mobility.contextTransfer": "Teleport"},
        "spec.mobility.contextTransfer",
    ),
    BadCase(
        "edgeapp-negative-hysteresis",
        AR,
        {"spec.mobility.hysteresisMs": -1},
        "spec.mobility.hysteresisMs",
    ),
    BadCase(
        "edgeapp-negative-dwell",
        AR,
        {"spec.mobility.minDwellSeconds": -3},
        "spec.mobility.minDwellSeconds",
    ),
    BadCase(
        "edgeapp-context-transfer-without-mobility",
        AR,
        {"spec.mobility.level": "NotAllowed"},
        "spec.mobility.contextTransfer",
    ),
    BadCase(
        "edgeapp-zero-max-instances",
        AR,
        {"spec.placement.maxInstances": 0, "spec.placement.warmStandby": 0},
        "spec.placement.maxInstances",
    ),
    BadCase(
        "edgeapp-standby-without-room",
        AR,
        {"spec.placement.warmStandby": 6},
        "spec.placement.warmStandby",
    ),
    BadCase(
        "edgeapp-repeated-host",
        VA,
        {"spec.placement.hosts": ["site-301896", "site-301896"]},
        "spec.placement.hosts",
    ),
    BadCase(
        "edgeapp-host-not-a-name",
        VA,
        {"spec.placement.hosts": ["Site_301896"]},
        "spec.placement.hosts[0]",
    ),
    BadCase(
        "edgeapp-unknown-lifecycle",
        AR,
        {"spec.lifecycle": "Running"},
        "spec.lifecycle",
    ),
    BadCase(
        "edgeapp-no-containers",
        AR,
        {"spec.template.spec.containers": []},
        "spec.template.spec.containers",
    ),
    BadCase(
        "edgeapp-container-without-image",
        AR,
        {"spec.template.spec.containers[0].image": DELETE},
        "spec.template.spec.containers[0].image",
    ),
    BadCase(
        "edgeapp-unknown-field",
        AR,
        {"spec.placement.maxInstance": 3},
        "spec.placement.maxInstance",
        status=400,
    ),
    BadCase(
        "edgehost-latitude-out-of-range",
        EH,
        {"spec.location.latitude": 91.5},
        "spec.location.latitude",
    ),
    BadCase(
        "edgehost-longitude-out-of-range",
        EH,
        {"spec.location.longitude": -180.5},
        "spec.location.longitude",
    ),
    BadCase("edgehost-empty-node-selector", EH, {"spec.nodeSelector": {}}, "spec.nodeSelector"),
    BadCase(
        "edgehost-agent-endpoint-without-port",
        EH,
        {"spec.agentEndpoint": "agent.example.net"},
        "spec.agentEndpoint",
    ),
    BadCase(
        "edgehost-agent-endpoint-bad-port",
        EH,
        {"spec.agentEndpoint": "agent.example.net:70000"},
        "spec.agentEndpoint",
    ),
    BadCase(
        "edgehost-negative-capacity",
        EH,
        {"spec.capacity.instances": -1},
        "spec.capacity.instances",
    ),
    BadCase(
        "edgehost-name-too-long-for-a-label",
        EH,
        {"metadata.name": "site-" + "1" * 70},
        "metadata.name",
    ),
    BadCase(
        "zone-repeated-access-point-id",
        ZN,
        {"spec.accessPoints[1].id": "ap-10003026"},
        "spec.accessPoints",
    ),
    BadCase(
        "zone-access-point-latitude-out-of-range",
        ZN,
        {"spec.accessPoints[2].location.latitude": -90.01},
        "spec.accessPoints[2].location.latitude",
    ),
    BadCase(
        "zone-unknown-connection-type",
        ZN,
        {"spec.accessPoints[0].connectionType": "6G"},
        "spec.accessPoints[0].connectionType",
    ),
    BadCase(
        "zone-probe-reflector-without-port",
        ZN,
        {"spec.accessPoints[0].probeReflector": "10.64.0.1"},
        "spec.accessPoints[0].probeReflector",
    ),
    BadCase("zone-no-access-points", ZN, {"spec.accessPoints": []}, "spec.accessPoints"),
    BadCase(
        "apppackage-bad-mec-version",
        PKG,
        {"spec.mecVersion": ["3.1"]},
        "spec.mecVersion[0]",
    ),
    BadCase(
        "apppackage-transfer-support-when-stateless",
        PKG,
        {"spec.userContextTransferCapability.statefulApplication": False},
        "spec.userContextTransferCapability.userContextTransferSupport",
    ),
    BadCase(
        "apppackage-unknown-operational-state",
        PKG,
        {"spec.operationalState": "Paused"},
        "spec.operationalState",
    ),
    BadCase("apppackage-no-template", PKG, {"spec.template": DELETE}, "spec.template"),
)


def describe(error: ValidationError) -> str:
    """A pydantic error as lines `field.path[0].x: message`, as the API server would list them."""
    return "\n".join(f"{field_path(e['loc'])}: {e['msg']}" for e in error.errors())
