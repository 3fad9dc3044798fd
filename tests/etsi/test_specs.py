"""The vendored ETSI files are the published ones, and the conformance check can fail."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import jsonschema
import pytest

from tests.etsi.conformance import SPECS, EtsiSpec

SHARED = Path(__file__).resolve().parents[3] / "shared" / "etsi-mec-apis"


def _recorded() -> dict[str, str]:
    text = (SPECS / "README.md").read_text()
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.M)}


def test_every_vendored_file_has_its_recorded_checksum() -> None:
    recorded = _recorded()
    files = sorted(p.name for p in SPECS.glob("*.yaml"))
    assert sorted(recorded) == files
    for name in files:
        assert hashlib.sha256((SPECS / name).read_bytes()).hexdigest() == recorded[name], name
    if SHARED.is_dir():  # beside a checkout, the shared copy must say the same
        for name in files:
            assert (SHARED / name).read_bytes() == (SPECS / name).read_bytes(), name


PKGM = EtsiSpec("MEC01002_AppPkgMgmt.yaml")
GOOD_PACKAGE = {
    "id": "p1",
    "appDId": "d1",
    "appProvider": "acme",
    "appName": "ar",
    "appSoftwareVersion": "1.0",
    "appDVersion": "1.0",
    "checksum": {"algorithm": "SHA-256", "hash": "00"},
    "softwareImages": [{"name": "ar", "image": "registry.example/ar:1.0"}],
    "mecInfo": ["3.1.1"],
    "onboardingState": "ONBOARDED",
    "operationalState": "ENABLED",
    "usageState": "NOT_IN_USE",
    "_links": {
        "self": {"href": "http://x/app_pkgm/v1/onboarded_app_packages/d1"},
        "appD": {"href": "http://x/app_pkgm/v1/onboarded_app_packages/d1/appd"},
        "appPkgContent": {"href": "http://x/app_pkgm/v1/onboarded_app_packages/d1/package_content"},
    },
}


def test_the_root_and_the_namespaced_root_find_the_same_operation() -> None:
    assert PKGM.root == "/app_pkgm/v1"
    bare = PKGM.operation("get", "/app_pkgm/v1/onboarded_app_packages/d1")[0]
    namespaced = PKGM.operation("get", "/namespaces/ns/app_pkgm/v1/onboarded_app_packages/d1")[0]
    assert bare == namespaced == "/onboarded_app_packages/{appDId}"


def test_a_wrapped_response_schema_is_checked_unwrapped() -> None:
    schema = PKGM.response_schema("post", "/app_pkgm/v1/onboarded_app_packages", 201)
    assert schema is not None
    assert "AppPkgInfo" not in (schema.get("properties") or {})
    assert "appDId" in schema["properties"]


def test_the_check_fails_on_a_wrong_body_and_an_undocumented_status() -> None:
    path = "/app_pkgm/v1/onboarded_app_packages/d1"
    schema = PKGM.response_schema("get", path, 200)
    assert schema is not None
    PKGM.check("get", path, 200, GOOD_PACKAGE)
    with pytest.raises(jsonschema.ValidationError):
        PKGM.check("get", path, 200, {**GOOD_PACKAGE, "appDId": 7})
    missing = {k: v for k, v in GOOD_PACKAGE.items() if k != "onboardingState"}
    with pytest.raises(jsonschema.ValidationError, match="onboardingState"):
        PKGM.check("get", path, 200, missing)
    with pytest.raises(AssertionError, match="does not document status 418"):
        PKGM.check("get", path, 418, {})
    with pytest.raises(AssertionError, match="has no PUT"):
        PKGM.operation("put", path)
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "gone"}
    PKGM.check("get", path, 404, problem)
    with pytest.raises(jsonschema.ValidationError):
        PKGM.check("get", path, 404, {**problem, "status": "404"})
