"""AppPackages created through the REST API: a source first, the AppD essentials once onboarded."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from mec_orchestrator.model import AppPackage, parse_resource
from mec_orchestrator.model.apppackage import ESSENTIALS, PackageChecksum
from tests.model.catalogue import describe, example

SOURCE: dict[str, Any] = {
    "appPkgName": "video-analytics",
    "appPkgVersion": "1.4.0",
    "checksum": {"algorithm": "SHA-256", "hash": "ab" * 32},
    "appPkgPath": "https://packages.example.com/video-analytics.zip",
    "userDefinedData": {"team": "vision", "nested": {"any": [1, "json"]}},
}


def pending() -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "AppPackage",
        "metadata": {"name": "0b9f3c4e-1d2a-4f6b-8c7d-9e0a1b2c3d4e"},
        "spec": {"source": SOURCE, "operationalState": "Disabled"},
    }


def test_a_package_with_a_source_needs_no_appd_yet() -> None:
    package = parse_resource(pending())
    assert isinstance(package, AppPackage)
    assert not package.spec.has_content
    assert package.to_dict()["spec"] == pending()["spec"]


@pytest.mark.parametrize("field", ESSENTIALS)
def test_without_a_source_every_essential_is_named_when_missing(field: str) -> None:
    declared = example("apppackage-video-analytics.yaml")
    del declared["spec"][field]
    with pytest.raises(ValidationError) as refused:
        parse_resource(declared)
    assert f"spec.{field}" in describe(refused.value)


@pytest.mark.parametrize(
    ("checksum", "named"),
    [
        ({"algorithm": "SHA-256", "hash": "ab" * 64}, "64 hexadecimal digits"),
        ({"algorithm": "SHA-512", "hash": "ab" * 32}, "128 hexadecimal digits"),
        ({"algorithm": "MD5", "hash": "ab" * 16}, "algorithm"),
        ({"algorithm": "SHA-256", "hash": "AB" * 32}, "hash"),
    ],
)
def test_the_checksum_is_checked(checksum: dict[str, str], named: str) -> None:
    with pytest.raises(ValidationError) as refused:
        PackageChecksum.model_validate(checksum)
    assert named in describe(refused.value)
