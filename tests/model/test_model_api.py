"""The models' helpers: defaults, summaries, ETSI names, field paths, by-name construction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from mec_orchestrator.model import (
    API_VERSION,
    KINDS,
    ContextTransfer,
    EdgeApp,
    EdgeAppSpec,
    EdgeAppStatus,
    EdgeHost,
    Instance,
    InstantiationState,
    LatencyBudget,
    MobilityLevel,
    ObjectMeta,
    OnboardingState,
    OperationalState,
    PackageOperationalState,
    PodTemplate,
    UsageState,
    field_path,
    summarize_instances,
)

MINIMAL_SPEC = {
    "appDId": "app-1",
    "appName": "a",
    "appProvider": "p",
    "appSoftVersion": "1",
    "latency": {"maxMs": 5},
    "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
}


def test_defaults_are_the_crd_defaults() -> None:
    spec = EdgeAppSpec.model_validate(MINIMAL_SPEC)
    assert spec.to_dict() == {
        **MINIMAL_SPEC,
        "latency": {"maxMs": 5.0},
        "mobility": {
            "level": "WithoutConfirmation",
            "contextTransfer": "None",
            "hysteresisMs": 2.0,
            "minDwellSeconds": 10,
        },
        "placement": {"warmStandby": 0, "idleSeconds": 300},
        "lifecycle": "Instantiated",
        "operationalState": "Started",
    }


def test_models_are_built_by_python_name_too() -> None:
    app = EdgeApp(
        metadata=ObjectMeta(name="x"),
        spec=EdgeAppSpec(
            app_d_id="app-1",
            app_name="a",
            app_provider="p",
            app_soft_version="1",
            latency=LatencyBudget(max_ms=5),
            template=PodTemplate.model_validate(MINIMAL_SPEC["template"]),
        ),
    )
    assert app.to_dict()["apiVersion"] == API_VERSION
    assert app.to_dict()["spec"]["appDId"] == "app-1"
    assert EdgeApp.model_validate(app.to_dict()) == app


def test_models_are_immutable() -> None:
    spec = EdgeAppSpec.model_validate(MINIMAL_SPEC)
    with pytest.raises(ValidationError):
        spec.app_name = "b"  # type: ignore[misc]


def test_pod_spec_fields_beyond_containers_are_kept() -> None:
    template = {
        "spec": {
            "containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}],
            "terminationGracePeriodSeconds": 5,
        }
    }
    assert PodTemplate.model_validate(template).to_dict() == template


def test_container_names_must_be_unique() -> None:
    twice = {"spec": {"containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "j"}]}}
    with pytest.raises(ValidationError, match="container names must be unique"):
        PodTemplate.model_validate(twice)


instances = st.lists(
    st.builds(
        Instance,
        host=st.from_regex(r"[a-z][a-z0-9]{0,30}", fullmatch=True),
        deployment=st.just("d"),
        ready=st.booleans(),
        users=st.integers(min_value=0, max_value=1000),
    ),
    max_size=40,
    unique_by=lambda i: i.host,
)


@given(instances)
def test_summaries_follow_the_instances(items: list[Instance]) -> None:
    status = EdgeAppStatus(instances=items).summarized()
    assert status.users == sum(i.users for i in items)
    assert status.ready_instances == sum(i.ready for i in items)
    assert status.ready_summary == f"{status.ready_instances}/{len(items)}"
    assert status.hosts_summary is not None
    assert len(status.hosts_summary) <= 256
    assert EdgeAppStatus.model_validate(status.to_dict()) == status
    assert set(summarize_instances(items)) <= set(EdgeAppStatus.model_fields)


def test_etsi_names() -> None:
    assert MobilityLevel.NOT_ALLOWED.etsi == "APP_MOBILITY_NOT_ALLOWED"
    assert MobilityLevel.WITHOUT_CONFIRMATION.etsi_code == 3
    assert MobilityLevel.from_etsi("APP_MOBILITY_WITH_CONFIRMATION") is (
        MobilityLevel.WITH_CONFIRMATION
    )
    assert InstantiationState.NOT_INSTANTIATED.etsi == "NOT_INSTANTIATED"
    assert OperationalState.from_etsi("STOPPED") is OperationalState.STOPPED
    assert OnboardingState.ONBOARDED.etsi == "ONBOARDED"
    assert PackageOperationalState.DISABLED.etsi == "DISABLED"
    assert UsageState.NOT_IN_USE.etsi == "NOT_IN_USE"
    assert UsageState.from_etsi("IN_USE") is UsageState.IN_USE
    assert {c.value for c in ContextTransfer} == {"None", "MecAssisted", "AppSelfControlled"}


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("spec",), "spec"),
        (
            ("spec", "accessPoints", 2, "location", "latitude"),
            "spec.accessPoints[2].location.latitude",
        ),
        (("spec", "mecVersion", 0), "spec.mecVersion[0]"),
        ((), ""),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path


def test_kinds() -> None:
    assert set(KINDS) == {
        "EdgeApp",
        "EdgeHost",
        "Zone",
        "AppPackage",
        "MecSubscription",
        "AppLcmOpOcc",
    }
    assert EdgeHost.NAMESPACED is False
    assert EdgeApp.NAMESPACED is True
    assert {t.PLURAL for t in KINDS.values()} == {
        "edgeapps",
        "edgehosts",
        "zones",
        "apppackages",
        "mecsubscriptions",
        "applcmopoccs",
    }
