"""Package ids, the appDId label, and what each package state allows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mec_common.patterns import DNS_LABEL
from mec_orchestrator.decisions.packages import states
from mec_orchestrator.decisions.packages.names import (
    LABEL_VALUE,
    app_d_id_label,
    is_package_name,
    new_package_id,
)
from mec_orchestrator.model import AppPackage, OnboardingState, PackageOperationalState
from tests.model.catalogue import example

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SOURCE = {
    "appPkgName": "p",
    "appPkgVersion": "1",
    "checksum": {"algorithm": "SHA-256", "hash": "0" * 64},
    "appPkgPath": "https://example.com/p.zip",
}


def test_package_ids_are_names() -> None:
    ids = {new_package_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(is_package_name(i) and re.match(DNS_LABEL, i) for i in ids)
    assert not is_package_name("Not_A_Name")
    assert not is_package_name("a" * 64)


@given(st.text(min_size=1, max_size=128))
def test_the_label_of_any_appdid_is_a_label_value(app_d_id: str) -> None:
    label = app_d_id_label(app_d_id)
    assert len(label) <= 63
    assert LABEL_VALUE.match(label)


@given(st.text(min_size=1, max_size=128), st.text(min_size=1, max_size=128))
def test_different_appdids_have_different_labels(a: str, b: str) -> None:
    if a != b:
        assert app_d_id_label(a) != app_d_id_label(b)


def test_label_values_are_kept_when_they_can_be() -> None:
    assert app_d_id_label("7d3c2f10-9b4e-4c8a-8f7e-2a61b0c4d9e5") == (
        "7d3c2f10-9b4e-4c8a-8f7e-2a61b0c4d9e5"
    )
    assert app_d_id_label("urn:appd:1").startswith("h-")
    hashed = app_d_id_label("urn:appd:1")
    assert app_d_id_label(hashed) != hashed  # a hash-looking appDId is hashed in turn


def package(status: dict[str, Any] | None = None, **spec: Any) -> AppPackage:
    return AppPackage.model_validate(
        {"metadata": {"name": "p"}, "spec": {"source": SOURCE, **spec}, "status": status or {}}
    )


def uploading(since: datetime) -> AppPackage:
    condition = {
        "type": "Onboarded",
        "status": "Unknown",
        "reason": "Uploading",
        "message": "",
        "lastTransitionTime": since.isoformat(),
    }
    return package({"onboardingState": "Uploading", "conditions": [condition]})


def test_states_of_a_package_on_its_way() -> None:
    created = package(operationalState="Enabled")
    assert states.onboarding_state(created) is OnboardingState.CREATED
    assert states.operational_state(created) is PackageOperationalState.DISABLED
    assert states.upload_refusal(created, NOW) is None
    assert "only an ONBOARDED package" in (states.modification_refusal(created) or "")
    assert states.deletion_refusal(created, []) is None
    assert "another upload is in progress" in (
        states.upload_refusal(uploading(NOW - timedelta(seconds=30)), NOW) or ""
    )
    assert states.upload_refusal(uploading(NOW - timedelta(minutes=10)), NOW) is None
    onboarded = package({"onboardingState": "Onboarded"}, operationalState="Enabled")
    assert "ONBOARDED already" in (states.upload_refusal(onboarded, NOW) or "")
    assert "disable it first" in (states.deletion_refusal(onboarded, []) or "")
    assert states.modification_refusal(onboarded) is None


def test_a_declared_package_is_onboarded_and_has_nothing_to_upload() -> None:
    declared = AppPackage.model_validate(example("apppackage-video-analytics.yaml"))
    assert states.onboarding_state(declared) is OnboardingState.ONBOARDED
    assert states.operational_state(declared) is PackageOperationalState.ENABLED
    assert "no content to upload" in (states.upload_refusal(declared, NOW) or "")
    disabled = declared.model_copy(
        update={
            "spec": declared.spec.model_copy(
                update={"operational_state": PackageOperationalState.DISABLED}
            )
        }
    )
    assert "IN_USE by EdgeApps a, b" in (states.deletion_refusal(disabled, ["a", "b"]) or "")
    assert states.deletion_refusal(disabled, []) is None
