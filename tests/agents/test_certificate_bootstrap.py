"""The agent's side of certificate bootstrapping, with a signer in memory.

The CSR API itself is exercised against the real API server in
tests/operator/test_certificates*.py; here a local CA answers at once with certificates of a
few seconds, so renewal (at 2/3 of the lifetime, the agent restarted on the new files while
the old one still served) is seen happening, and the kept files are judged.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from pydantic import ValidationError

from edge_host_agent.bootstrap import (
    certificate_addresses,
    obtain,
    renewal_time,
    run_bootstrapped,
    still_good,
    tls_files,
)
from edge_host_agent.settings import AgentSettings
from mec_common.csr import read_request
from mec_common.tls import cert_pem, issue_ca


class MemorySigner:
    """Signs every request at once, for `lifetime`, from a CA of its own."""

    def __init__(self, lifetime: dt.timedelta) -> None:
        self.ca, self.ca_key = issue_ca("test-ca")
        self.lifetime = lifetime
        self.requests: list[str] = []

    async def read_ca_bundle(self, configmap: str) -> bytes:
        return cert_pem(self.ca)

    async def create_request(
        self, host: str, request_pem: bytes, expiration_seconds: int | None
    ) -> str:
        self.requests.append(request_pem.decode())
        return f"csr-{len(self.requests)}"

    async def wait_for_certificate(self, name: str, timeout_s: float) -> bytes:
        identity = read_request(self.requests[int(name.split("-")[1]) - 1].encode())
        assert identity.public_key is not None
        now = dt.datetime.now(dt.UTC)
        names = [x509.UniformResourceIdentifier(u) for u in identity.uris]
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(self.ca.subject)
            .public_key(identity.public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + self.lifetime)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return cert_pem(certificate)


def settings(tmp_path: Path, **overrides: object) -> AgentSettings:
    values: dict[str, object] = {
        "host_name": "edge-a",
        "bootstrap_certificate": True,
        "state_dir": tmp_path / "state",
        "advertise": "10.0.0.5:50061",
    }
    return AgentSettings(**{**values, **overrides})  # type: ignore[arg-type]


async def test_the_agent_is_restarted_on_a_renewed_certificate_at_two_thirds(
    tmp_path: Path,
) -> None:
    signer = MemorySigner(dt.timedelta(seconds=3))
    started: list[tuple[bytes, dt.datetime]] = []
    stop = asyncio.Event()

    async def agent(agent_settings: AgentSettings, agent_stop: asyncio.Event) -> None:
        files = agent_settings.tls_files()
        assert files is not None
        started.append((files.cert.read_bytes(), dt.datetime.now(dt.UTC)))
        if len(started) == 2:
            stop.set()
        await agent_stop.wait()

    await asyncio.wait_for(
        run_bootstrapped(settings(tmp_path), signer, agent, stop, min_renewal_delay_s=0.1),
        timeout=10,
    )
    assert len(signer.requests) == 2
    (first, _), (second, restarted_at) = started
    assert first != second
    old = x509.load_pem_x509_certificate(first)
    assert renewal_time(old) <= restarted_at < old.not_valid_after_utc  # renewed before expiry


async def test_an_agent_that_stops_ends_the_bootstrap(tmp_path: Path) -> None:
    signer = MemorySigner(dt.timedelta(hours=1))

    async def agent(agent_settings: AgentSettings, agent_stop: asyncio.Event) -> None:
        return  # a signal ended it

    await asyncio.wait_for(run_bootstrapped(settings(tmp_path), signer, agent), timeout=10)
    assert len(signer.requests) == 1


async def test_kept_files_are_judged_against_the_ca_the_host_and_the_clock(
    tmp_path: Path,
) -> None:
    signer = MemorySigner(dt.timedelta(hours=3))
    obtained = await obtain(settings(tmp_path), signer)
    bundle = cert_pem(signer.ca)
    now = dt.datetime.now(dt.UTC)
    assert still_good(obtained.files, bundle, "edge-a", now) is None
    assert "edge-b" in str(still_good(obtained.files, bundle, "edge-b", now))
    other_ca = cert_pem(issue_ca("another")[0])
    assert "current CA" in str(still_good(obtained.files, other_ca, "edge-a", now))
    certificate = x509.load_pem_x509_certificate(obtained.files.cert.read_bytes())
    assert obtained.renew_at == renewal_time(certificate)
    assert "due for renewal" in str(still_good(obtained.files, bundle, "edge-a", obtained.renew_at))
    assert still_good(tls_files(tmp_path / "empty"), bundle, "edge-a", now) == (
        "no certificate kept yet"
    )
    # A restart within the lifetime asks for nothing.
    assert (await obtain(settings(tmp_path), signer)).requested is None
    assert len(signer.requests) == 1


def test_the_certificate_names_the_advertised_address(tmp_path: Path) -> None:
    assert certificate_addresses(settings(tmp_path)) == ((), ("10.0.0.5",))
    named = settings(tmp_path, advertise="edge-a.example:50061")
    assert certificate_addresses(named) == (("edge-a.example",), ())
    assert certificate_addresses(settings(tmp_path, advertise=None)) == ((), ())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cert": "x.crt", "key": "x.key", "ca_cert": "ca.crt"}, "do not set ca_cert"),
        ({"insecure": True}, "do not set insecure"),
        ({"state_dir": None}, "needs state_dir"),
    ],
)
def test_bootstrap_settings_that_contradict_are_refused(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(tmp_path, **overrides)


def test_a_bootstrapped_agent_never_falls_back_to_plaintext(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="bootstrapped"):
        settings(tmp_path).tls_files()
