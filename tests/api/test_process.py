"""The API as the real `mec-orchestrator run` serves it: HTTPS when certificates are given."""

from __future__ import annotations

import os
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from mec_common.tls import write_agent_pki
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from mec_devtools.launch import operator_command
from mec_orchestrator.api.settings import ApiSettings


@pytest.mark.cluster
def test_the_api_serves_https_with_the_given_certificate(
    crds_installed: ClusterInfo, tmp_path: Path
) -> None:
    pki = write_agent_pki(tmp_path / "pki", ())
    port = free_port()
    env = {
        **os.environ,
        "MEC_API_TLS_CERT": str(pki.orchestrator.cert),
        "MEC_API_TLS_KEY": str(pki.orchestrator.key),
        "MEC_OPERATOR_IDENTITY": f"tls-{port}",
    }
    log = tmp_path / "operator.log"
    argv = operator_command(crds_installed.kubeconfig, port, priority=650)
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"https://127.0.0.1:{port}"
        trust = ssl.create_default_context(cafile=str(pki.ca_cert))
        deadline = time.monotonic() + 30
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"{url}/readyz", verify=trust, timeout=2)
                if answer.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert answer is not None, log.read_text()[-2000:]
        assert answer.status_code == 200
        problem = httpx.get(f"{url}/no/such", verify=trust, timeout=5)
        assert problem.status_code == 404
        assert problem.headers["content-type"].startswith("application/problem+json")
        with pytest.raises(httpx.HTTPError):  # plaintext is not served beside it
            httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        with pytest.raises(httpx.ConnectError):  # nor to a client that does not trust it
            httpx.get(f"{url}/readyz", timeout=2)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_certificate_without_its_key_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="tls_cert and tls_key go together"):
        ApiSettings(tls_cert=Path("/x.crt"))
