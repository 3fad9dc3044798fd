"""AppDs: validated against the MEC 010-2 schema naming the field, turned into a package spec."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mec_orchestrator.decisions.packages.appd import (
    appd_from_spec,
    dns_label,
    image_of,
    mec_versions,
    validate_appd,
)
from mec_orchestrator.decisions.packages.archive import PackageError
from mec_orchestrator.model import AppPackage
from mec_orchestrator.model.apppackage import OnboardedReason
from tests.etsi.conformance import EtsiSpec, _resolve
from tests.model.catalogue import example

PKGM = EtsiSpec("MEC01002_AppPkgMgmt.yaml")
APPD_SCHEMA = _resolve(PKGM.spec, {"$ref": "#/components/schemas/AppD"})

APPD: dict[str, Any] = {
    "appDId": "5e0f3a0c-0c2e-4bb5-9d38-6d5c1a6a9a10",
    "appName": "ar-navigator",
    "appProvider": "Example AR",
    "appSoftVersion": "2.0.1",
    "appDVersion": "1.0",
    "mecVersion": "3.1.1",
    "appDescription": "Turn-by-turn navigation overlays.",
    "swImageDescriptor": [
        {
            "id": "img-1",
            "name": "Navigator Core",
            "version": "2.0.1",
            "containerFormat": "DOCKER",
            "swImage": "registry.example.com/ar/navigator:2.0.1",
        }
    ],
    "appExtCpd": [{"inherited_attributes": {}}],
}
REQUIRED = [
    "appDId",
    "appName",
    "appProvider",
    "appSoftVersion",
    "appDVersion",
    "mecVersion",
    "appDescription",
    "swImageDescriptor",
    "appExtCpd",
]


def appd(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(APPD)
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def refusal(document: Any) -> str:
    with pytest.raises(PackageError) as refused:
        validate_appd(document)
    assert refused.value.reason is OnboardedReason.INVALID_APPD
    assert refused.value.message.startswith("AppD ")
    return refused.value.message


def test_the_file_requires_what_the_validation_requires() -> None:
    assert sorted(APPD_SCHEMA["required"]) == sorted(REQUIRED)
    jsonschema.Draft202012Validator(APPD_SCHEMA).validate(
        appd(swImageDescriptor=None)
        | {"swImageDescriptor": [APPD["swImageDescriptor"][0] | {"swImage": {"file": "x"}}]}
    )


def test_a_minimal_appd_becomes_a_package_spec() -> None:
    onboarded = validate_appd(APPD)
    spec = onboarded.spec.to_dict()
    assert spec["appDId"] == APPD["appDId"]
    assert spec["mecVersion"] == ["3.1.1"]
    assert spec["appSoftVersion"] == "2.0.1"
    assert spec["template"] == {
        "metadata": {"labels": {"app.kubernetes.io/name": "ar-navigator"}},
        "spec": {
            "containers": [
                {"name": "navigator-core", "image": "registry.example.com/ar/navigator:2.0.1"}
            ]
        },
    }
    assert "latency" not in spec
    assert onboarded.document == APPD
    (image,) = onboarded.software_images
    assert (image.id, image.image, image.container_format) == (
        "img-1",
        "registry.example.com/ar/navigator:2.0.1",
        "DOCKER",
    )


def test_compute_latency_ports_and_transfer_are_taken() -> None:
    document = appd(
        virtualComputeDescriptor={
            "virtualComputeDescId": "c",
            "virtualCpu": {"numVirtualCpu": 4},
            "virtualMemory": {"virtualMemSize": 512.5},
        },
        appExtCpd=[
            {
                "inherited_attributes": {},
                "additionalServiceData": [
                    {
                        "portData": [
                            {"name": "HTTP", "protocol": "TCP", "port": 80,
                             "portConfigurable": False},
                            {"name": "a-very-long-port-name", "protocol": "UDP", "port": 5000,
                             "portConfigurable": True},
                        ]
                    }
                ],
            }
        ],
        appLatency={"maxLatency": 7_500_000},
        userContextTransferCapability={"statefulApplication": False},
        appServiceRequired=[{"serName": "LocationService", "version": "3.1.1"}],
    )  # fmt: skip
    spec = validate_appd({"AppD": document}).spec.to_dict()  # the generator's wrapper too
    (container,) = spec["template"]["spec"]["containers"]
    assert container["resources"] == {"requests": {"cpu": "4", "memory": "512.5M"}}
    assert container["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"},
        {"containerPort": 5000, "protocol": "UDP"},
    ]
    assert spec["latency"] == {"maxMs": 7.5}
    assert spec["userContextTransferCapability"] == {"statefulApplication": False}


def test_os_containers_give_one_container_each() -> None:
    image = APPD["swImageDescriptor"][0] | {"swImage": {"file": "registry.example.com/a:1"}}
    containers = [
        {
            "osContainerDescId": "c1",
            "name": "Front End",
            "description": "web",
            "swImageDesc": image,
            "requestedCpuResources": 250,
            "requestedMemoryResources": 128,
            "cpuResourceLimit": 1000,
        },
        {"osContainerDescId": "c2", "name": "front-end", "description": "", "swImageDesc": image},
    ]
    spec = validate_appd(appd(osContainerDescriptor=containers)).spec.to_dict()
    first, second = spec["template"]["spec"]["containers"]
    assert first == {
        "name": "front-end",
        "image": "registry.example.com/a:1",
        "resources": {"requests": {"cpu": "250m", "memory": "128M"}, "limits": {"cpu": "1000m"}},
    }
    assert second["name"] == "front-end-2"


@pytest.mark.parametrize("field", REQUIRED)
def test_every_required_field_is_named_when_missing(field: str) -> None:
    assert f"{field}: Field required" in refusal(appd(**{field: None}))


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"appDId": "not an id!"}, "appDId: String should match pattern"),
        ({"appName": 7}, "appName: Input should be a valid string"),
        ({"mecVersion": "3.1.1, 3.1.1"}, "mecVersion: versions must be unique"),
        ({"mecVersion": "3.1.1,v4"}, "mecVersion: v4 is not x.y.z"),
        ({"swImageDescriptor": []}, "swImageDescriptor: List should have at least 1 item"),
        ({"appExtCpd": [{}]}, "appExtCpd[0].inherited_attributes: Field required"),
        (
            {"swImageDescriptor": [APPD["swImageDescriptor"][0] | {"swImage": {"url": "x"}}]},
            "swImageDescriptor[0].swImage: the container image reference",
        ),
        ({"appLatency": {"maxLatency": 0}}, "appLatency.maxLatency: Input should be greater"),
        ({"appLatency": {"maxLatency": 2**32}}, "appLatency.maxLatency: Input should be less"),
        (
            {"userContextTransferCapability": {"statefulApplication": False,
                                               "userContextTransferSupport": True}},
            "userContextTransferCapability.userContextTransferSupport: must be absent",
        ),
        (
            {"virtualComputeDescriptor": {"virtualComputeDescId": "c", "virtualCpu": {},
                                          "virtualMemory": {"virtualMemSize": 1}}},
            "virtualComputeDescriptor.virtualCpu.numVirtualCpu: Field required",
        ),
        (
            {"virtualComputeDescriptor": {"virtualComputeDescId": "c",
                                          "virtualCpu": {"numVirtualCpu": 1},
                                          "virtualMemory": {"virtualMemSize": 1}},
             "osContainerDescriptor": []},
            None,
        ),
        ({"appServiceRequired": "Location"}, "appServiceRequired: Input should be a valid list"),
    ],
)  # fmt: skip
def test_bad_values_are_named(changes: dict[str, Any], named: str | None) -> None:
    if named is None:
        validate_appd(appd(**changes))
    else:
        assert named in refusal(appd(**changes))


def test_note_5_is_checked() -> None:
    compute = {
        "virtualComputeDescId": "c",
        "virtualCpu": {"numVirtualCpu": 1},
        "virtualMemory": {"virtualMemSize": 1},
    }
    two = [APPD["swImageDescriptor"][0], APPD["swImageDescriptor"][0] | {"id": "img-2"}]
    assert "only one image" in refusal(
        appd(virtualComputeDescriptor=compute, swImageDescriptor=two)
    )


@pytest.mark.parametrize("document", [[], "appDId: x", None, {"AppD": []}])
def test_a_document_that_is_not_an_object_is_refused(document: Any) -> None:
    assert "(document)" in refusal(document)


def test_a_declared_package_has_an_appd_the_file_accepts_and_onboarding_reads_back() -> None:
    package = AppPackage.model_validate(example("apppackage-video-analytics.yaml"))
    document = appd_from_spec(package.spec)
    jsonschema.Draft202012Validator(APPD_SCHEMA).validate(document)
    again = validate_appd(document).spec
    for field in (
        "app_d_id",
        "app_name",
        "app_provider",
        "app_soft_version",
        "app_d_version",
        "mec_version",
        "app_description",
        "latency",
        "user_context_transfer_capability",
    ):
        assert getattr(again, field) == getattr(package.spec, field), field  # fmt: skip
    assert again.template is not None
    assert package.spec.template is not None
    assert [c.image for c in again.template.spec.containers] == [
        c.image for c in package.spec.template.spec.containers
    ]


def test_helpers() -> None:
    assert image_of(" a:1 ") == "a:1"
    assert image_of({"file": "b:2"}) == "b:2"
    assert image_of({"file": 3}) is None
    assert image_of("") is None
    assert mec_versions(" 3.1.1 ,2.2.1,, ") == ["3.1.1", "2.2.1"]
    assert dns_label("Navigator Core!", "x") == "navigator-core"
    assert dns_label("***", "fallback") == "fallback"


@given(st.text(max_size=80))
def test_dns_label_always_gives_a_label(text: str) -> None:
    label = dns_label(text, "fallback")
    assert 1 <= len(label) <= 63
    assert label == "fallback" or label.replace("-", "").isalnum()
    assert not label.startswith("-")
    assert not label.endswith("-")
