"""The agent's certificate, bootstrapped through the Kubernetes CSR API and renewed in time.

With `--bootstrap-certificate` (docs/certificates.md) the agent needs no certificate files: it
reads the orchestrator's CA from its ConfigMap, and unless its state directory already holds a
certificate that is still good (issued by that CA for this host's SPIFFE ID, for the key beside
it, not past 2/3 of its lifetime) it makes a new key, asks for a certificate with a
CertificateSigningRequest (signer `mec.dev/edge-agent`, the host's URI SAN and the address it is
advertised on), and waits for the orchestrator to sign it. Key and certificate stay in
`<state_dir>/tls/` (the key readable by its owner only), so a restart within the lifetime asks
for nothing.

`run_bootstrapped` runs the agent on those files and, when 2/3 of the lifetime has passed, gets
the next certificate while the agent still runs, then restarts the agent in-process on the new
files (TLS credentials are read when servers and channels start): it re-registers within a
heartbeat or two, well inside the orchestrator's lost-agent time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from edge_host_agent.addresses import Address
from edge_host_agent.settings import AgentSettings
from mec_common.csr import build_request
from mec_common.identities import edge_host_id
from mec_common.tls import TlsFiles, load_key, new_key, write_key

log = logging.getLogger(__name__)

RENEW_AT = 2 / 3
"""The fraction of a certificate's lifetime after which it is renewed."""
MIN_RENEWAL_DELAY_S = 60.0
"""Never renew sooner than this after the last certificate (one born due is not renewed in a
loop: a signer that issues too-short certificates gets one request a minute)."""


def tls_files(state_dir: Path) -> TlsFiles:
    """Where the bootstrapped CA bundle, certificate and key are kept."""
    directory = state_dir / "tls"
    return TlsFiles(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")


def renewal_time(certificate: x509.Certificate) -> dt.datetime:
    """When a certificate is due for renewal: 2/3 of the way through its lifetime."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return start + (end - start) * RENEW_AT


def _issued_by(certificate: x509.Certificate, bundle: bytes) -> bool:
    for ca in x509.load_pem_x509_certificates(bundle):
        try:
            certificate.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


def _uris(certificate: x509.Certificate) -> list[str]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return names.value.get_values_for_type(x509.UniformResourceIdentifier)


def still_good(files: TlsFiles, bundle: bytes, host: str, now: dt.datetime) -> str | None:
    """None if the kept certificate can be reused now, else why it cannot."""
    if not (files.cert.exists() and files.key.exists()):
        return "no certificate kept yet"
    try:
        certificate = x509.load_pem_x509_certificate(files.cert.read_bytes())
        key = load_key(files.key)
    except (ValueError, TypeError) as error:
        return f"the kept certificate or key is unreadable ({error})"
    uris, expected = _uris(certificate), edge_host_id(host)
    problems = (
        (certificate.public_key() != key.public_key(), "it is not for the kept key"),
        (uris != [expected], f"it names {uris}, not {expected}"),
        (not _issued_by(certificate, bundle), "it is not from the orchestrator's current CA"),
        (
            now >= renewal_time(certificate),
            f"it was due for renewal at {renewal_time(certificate)}",
        ),
    )
    return next((f"the kept certificate: {why}" for failed, why in problems if failed), None)


def certificate_addresses(settings: AgentSettings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names, IP addresses) the certificate names: the host the agent is advertised on."""
    if not settings.advertise:
        return (), ()
    host = Address.parse(settings.advertise).host
    try:
        return (), (str(ipaddress.ip_address(host)),)
    except ValueError:
        return (host,), ()


class CertificateSource(Protocol):
    """What the bootstrap asks of the API server (`bootstrap_kube.KubeCertificates`)."""

    async def read_ca_bundle(self, configmap: str) -> bytes: ...

    async def create_request(
        self, host: str, request_pem: bytes, expiration_seconds: int | None
    ) -> str: ...

    async def wait_for_certificate(self, name: str, timeout_s: float) -> bytes: ...


@dataclass(frozen=True)
class Obtained:
    """The files the agent runs on and when they are due for renewal."""

    files: TlsFiles
    renew_at: dt.datetime
    requested: str | None  # the CSR's name, None when the kept certificate was reused


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_suffix(path.suffix + ".new")
    partial.write_bytes(data)
    partial.replace(path)


async def obtain(
    settings: AgentSettings, source: CertificateSource, *, force: bool = False
) -> Obtained:
    """The agent's TLS files: kept ones still good, else a newly signed certificate."""
    assert settings.state_dir is not None  # noqa: S101 - the settings require it
    files = tls_files(settings.state_dir)
    files.cert.parent.mkdir(parents=True, exist_ok=True)
    bundle = await source.read_ca_bundle(settings.ca_configmap)
    _write_atomically(files.ca_cert, bundle)
    host = settings.host_name
    why = "renewal due" if force else still_good(files, bundle, host, dt.datetime.now(dt.UTC))
    if why is None:
        kept = x509.load_pem_x509_certificate(files.cert.read_bytes())
        log.info("reusing the kept certificate of %s (renewal at %s)", host, renewal_time(kept))
        return Obtained(files, renewal_time(kept), None)
    key = new_key()
    dns_names, ips = certificate_addresses(settings)
    request = build_request(key, host, dns_names=dns_names, ip_addresses=ips)
    name = await source.create_request(host, request, settings.certificate_seconds)
    log.info(
        "asked for a certificate for %s (%s): CertificateSigningRequest %s (kubectl get csr %s)",
        edge_host_id(host),
        why,
        name,
        name,
    )
    signed = await source.wait_for_certificate(name, settings.certificate_timeout_s)
    certificate = x509.load_pem_x509_certificate(signed)
    public = certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or public != key.public_key():
        raise ValueError(f"certificate request {name} was answered for another key")
    if not _issued_by(certificate, bundle):
        raise ValueError(f"certificate of {name} is not from the CA in {settings.ca_configmap}")
    key_path = files.key.with_suffix(".key.new")
    write_key(key_path, key)
    key_path.replace(files.key)
    _write_atomically(files.cert, signed)
    log.info(
        "certificate %s issued for %s, valid until %s (renewal at %s)",
        name,
        host,
        certificate.not_valid_after_utc,
        renewal_time(certificate),
    )
    return Obtained(files, renewal_time(certificate), name)


RunAgent = Callable[[AgentSettings, asyncio.Event], Coroutine[Any, Any, None]]


def with_files(settings: AgentSettings, files: TlsFiles) -> AgentSettings:
    """The settings the agent runs with: the bootstrapped files in place of none."""
    return settings.model_copy(
        update={"ca_cert": files.ca_cert, "cert": files.cert, "key": files.key}
    )


async def run_bootstrapped(
    settings: AgentSettings,
    source: CertificateSource,
    run_agent: RunAgent,
    stop: asyncio.Event | None = None,
    min_renewal_delay_s: float = MIN_RENEWAL_DELAY_S,
) -> None:
    """Run the agent on a bootstrapped certificate, renewing it (and restarting) when due."""
    stop = stop or asyncio.Event()
    obtained = await obtain(settings, source)
    while not stop.is_set():
        agent_stop = asyncio.Event()
        agent = asyncio.create_task(run_agent(with_files(settings, obtained.files), agent_stop))
        stopping = asyncio.create_task(stop.wait())
        delay = (obtained.renew_at - dt.datetime.now(dt.UTC)).total_seconds()
        due = asyncio.create_task(asyncio.sleep(max(min_renewal_delay_s, delay)))
        done, _ = await asyncio.wait({agent, stopping, due}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stopping, due):
            task.cancel()
        if agent in done:
            agent.result()  # the agent ended by itself (a signal): so does the bootstrap
            return
        if stopping in done:
            agent_stop.set()
            await agent
            return
        try:
            obtained = await obtain(settings, source, force=True)  # the agent still runs
        except Exception:
            agent_stop.set()
            with contextlib.suppress(Exception):
                await agent
            raise
        log.info("restarting the agent on its renewed certificate")
        agent_stop.set()
        await agent
