"""Property-based fuzzing of every operation the API serves, over HTTP, against the real process.

schemathesis generates requests from the API's own OpenAPI document (valid and invalid ones)
and sends them to a real `mec-orchestrator run` on the local control plane. Every answer must be
no 5xx, a documented status with the documented content type and schema, and — for the ETSI
APIs — valid against the ETSI OpenAPI file itself (tests/etsi/conformance.py). The example count
per operation is bounded (FUZZ_EXAMPLES) so the suite keeps its time budget.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from tests.etsi.conformance import EtsiSpec
from tests.operator.conftest import OperatorProcess

FUZZ_EXAMPLES = int(os.environ.get("MEC_FUZZ_EXAMPLES", "25"))

ETSI_FILES = {
    "/app_pkgm/v1": "MEC01002_AppPkgMgmt.yaml",
    "/app_lcm/v1": "MEC01002_AppLcm.yaml",
    "/location/v2": "LocationAPI.yaml",
    "/dev_app/v1": "UEAppInterfaceApi.yaml",
    "/amsi/v1": "MEC021_AppMobilityService.yaml",
}


@pytest.fixture(scope="module")
def api_process(
    crds_installed: ClusterInfo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    logs = tmp_path_factory.mktemp("fuzz-logs")
    env = {
        "MEC_API_AUTH": "none",
        # With the agents' server, so devices' MEC 016 calls reach the users' directory.
        "MEC_OPERATOR_AGENTS_LISTEN": f"127.0.0.1:{free_port()}",
        "MEC_OPERATOR_AGENTS_INSECURE": "true",
    }
    process = OperatorProcess(crds_installed, logs, priority=700, env=env).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def api_schema(api_process: OperatorProcess) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"http://127.0.0.1:{api_process.port}/openapi.json")


@schemathesis.serializer("application/zip")
def zip_body(ctx: Any, value: Any) -> bytes:
    """Package content as generated (bytes, or whatever the schema made, as JSON text)."""
    del ctx
    return value if isinstance(value, bytes) else json.dumps(value, default=str).encode()


def _etsi_file(path: str) -> str | None:
    for root, name in ETSI_FILES.items():
        if root in path:
            return name
    return None


@schemathesis.check
def etsi_conformance(
    ctx: Any, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> None:
    """The answer is what the ETSI file documents for this operation and status."""
    del ctx
    path = case.formatted_path
    name = _etsi_file(path)
    if name is None:
        return
    body: Any = None
    media = (response.headers.get("content-type") or [""])[0]
    if response.content:
        body = json.loads(response.content) if "json" in media else response.content
    EtsiSpec(name).check(case.method, path, response.status_code, body)


CHECKS: list[Any] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    etsi_conformance,
]


def test_no_5xx_and_every_answer_documented(api_schema: schemathesis.BaseSchema) -> None:
    """Each operation gets FUZZ_EXAMPLES generated requests (schemathesis's pytest plugin does
    not run on this pytest, so hypothesis drives each operation's strategy directly)."""
    failures: list[str] = []
    operations = 0
    for found in api_schema.get_all_operations():
        operation = found.ok()  # type: ignore[union-attr]  # an Err would raise here, as wanted
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            response = case.call(timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            fuzz()
        except Exception as failure:
            failures.append(f"{operation.label}: {str(failure)[:2000]}")
    assert operations > 0
    assert not failures, "\n\n".join(failures)


def test_the_fuzzed_document_has_every_etsi_root(api_process: OperatorProcess) -> None:
    document = httpx.get(f"http://127.0.0.1:{api_process.port}/openapi.json", timeout=10).json()
    paths = list(document["paths"])
    for root in ETSI_FILES:
        assert any(p.startswith(root) for p in paths), f"nothing served under {root}"
        assert any(p.startswith("/namespaces/{namespace}" + root) for p in paths)
