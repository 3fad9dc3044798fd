"""Agent settings (environment, file, flags) and the certificates that carry hosts' identities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from edge_host_agent.link import registration
from edge_host_agent.settings import AccessPointConfig, AgentSettings
from mec_common.tls import (
    AgentPki,
    edge_host_id,
    host_of_id,
    load_cert,
    write_agent_pki,
)
from mec_devtools.devcluster import pki as devcluster_pki


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("MEC_AGENT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_settings_come_from_the_environment_and_arguments_win(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MEC_AGENT_HOST_NAME", "edge-env")
    clean_env.setenv("MEC_AGENT_INSECURE", "true")
    clean_env.setenv("MEC_AGENT_PROBE_RATE_HZ", "5")
    clean_env.setenv("MEC_AGENT_NODE_NAMES", '["n1", "n2"]')
    clean_env.setenv("MEC_AGENT_ACCESS_POINTS", '[{"id": "ap-1", "reflector": "10.0.0.1:8620"}]')
    from_env = AgentSettings()
    assert from_env.host_name == "edge-env"
    assert from_env.probe_rate_hz == 5.0
    assert from_env.node_names == ["n1", "n2"]
    assert from_env.probed_access_points == [
        AccessPointConfig(id="ap-1", reflector="10.0.0.1:8620")
    ]
    assert from_env.tls_files() is None
    overridden = AgentSettings(host_name="edge-flag", probe_rate_hz=50)
    assert (overridden.host_name, overridden.probe_rate_hz) == ("edge-flag", 50.0)


def test_access_points_come_from_a_file_too(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    listed = tmp_path / "aps.yaml"
    listed.write_text(
        "- {id: ap-2, reflector: '[fd00::2]:8620'}\n- {id: ap-3, reflector: 'r3:1'}\n"
    )
    zone = tmp_path / "zone.yaml"
    zone.write_text(
        "accessPoints:\n  - {id: ap-4, reflector: 'r4:1', location: {latitude: 1, longitude: 2}}\n"
    )
    settings = AgentSettings(
        host_name="edge-a",
        insecure=True,
        access_points=[AccessPointConfig(id="ap-1", reflector="r1:1")],
        access_points_file=listed,
    )
    assert [ap.id for ap in settings.probed_access_points] == ["ap-1", "ap-2", "ap-3"]
    assert settings.probed_access_points[1].reflector_address.host == "fd00::2"
    from_zone = AgentSettings(host_name="edge-a", insecure=True, access_points_file=zone)
    assert [ap.id for ap in from_zone.probed_access_points] == ["ap-4"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host_name": "Edge A", "insecure": True}, "host_name"),
        ({"host_name": "edge-a"}, "mutual TLS needs ca_cert, cert, key"),
        ({"host_name": "edge-a", "insecure": True, "cert": "c.pem"}, "do not also set cert"),
        ({"host_name": "edge-a", "insecure": True, "latitude": 1.0}, "both latitude and longitude"),
        ({"host_name": "edge-a", "insecure": True, "orchestrator": "nope"}, "orchestrator"),
        ({"host_name": "edge-a", "insecure": True, "probe_rate_hz": 0}, "probe_rate_hz"),
        (
            {
                "host_name": "edge-a",
                "insecure": True,
                "access_points": [
                    {"id": "ap", "reflector": "a:1"},
                    {"id": "ap", "reflector": "b:1"},
                ],
            },
            "repeated: ap",
        ),
        (
            {"host_name": "edge-a", "insecure": True, "access_points_file": "/nonexistent/aps"},
            "access_points_file",
        ),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(
    clean_env: pytest.MonkeyPatch, fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        AgentSettings(**fields)  # type: ignore[arg-type]


def test_the_registration_carries_what_the_settings_say(clean_env: pytest.MonkeyPatch) -> None:
    settings = AgentSettings(
        host_name="edge-a",
        insecure=True,
        node_names=["n1"],
        latitude=-37.8,
        longitude=144.9,
        capacity_users=500,
        capacity_cpu="8",
    )
    aps = [AccessPointConfig(id="ap-1", reflector="r:1")]
    request = registration(settings, aps, "agent.site:50061")
    assert request.host_name == "edge-a"
    assert list(request.node_names) == ["n1"]
    assert (request.location.latitude, request.location.longitude) == (-37.8, 144.9)
    assert request.capacity.users == 500
    assert not request.capacity.HasField("instances")
    assert request.capacity.cpu == "8"
    assert request.agent_endpoint == "agent.site:50061"
    assert [(a.access_point_id, a.reflector_address) for a in request.access_points] == [
        ("ap-1", "r:1")
    ]
    bare = registration(AgentSettings(host_name="edge-b", insecure=True), [], None)
    assert not bare.HasField("location")


def test_a_hosts_certificate_names_it_in_the_cn_and_a_spiffe_uri(tmp_path: Path) -> None:
    pki = write_agent_pki(tmp_path, ("edge-a",))
    cert = load_cert(pki.edge_host("edge-a").cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edge-a"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://mec.dev/edge-host/edge-a"
    ]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(usages) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
    assert cert.issuer == load_cert(pki.ca_cert).subject
    assert pki.edge_host("edge-a").key.stat().st_mode & 0o777 == 0o600
    assert pki.ca_key.stat().st_mode & 0o777 == 0o600
    orchestrator = load_cert(pki.orchestrator.cert)
    orchestrator_names = orchestrator.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    assert orchestrator_names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert orchestrator_names.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://mec.dev/orchestrator"
    ]


def test_adding_hosts_later_keeps_the_ca(tmp_path: Path) -> None:
    first = write_agent_pki(tmp_path, ("edge-a",))
    ca = first.ca_cert.read_bytes()
    second = write_agent_pki(tmp_path, ("edge-b",))
    assert second.ca_cert.read_bytes() == ca
    assert load_cert(second.edge_host("edge-b").cert).issuer == load_cert(first.ca_cert).subject
    with pytest.raises(ValueError, match="not a DNS label"):
        write_agent_pki(tmp_path, ("../evil",))


def test_spiffe_ids_name_edge_hosts_only() -> None:
    assert edge_host_id("edge-a") == "spiffe://mec.dev/edge-host/edge-a"
    assert host_of_id("spiffe://mec.dev/edge-host/edge-a") == "edge-a"
    for other in (
        "spiffe://mec.dev/orchestrator",
        "spiffe://mec.dev/edge-host/",
        "spiffe://mec.dev/edge-host/a/b",
        "spiffe://other.dev/edge-host/edge-a",
    ):
        assert host_of_id(other) is None


def test_the_certs_command_writes_a_usable_set(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_host_agent",
            "certs",
            "--out",
            str(out),
            "--host",
            "edge-z",
            "--orchestrator-dns",
            "mec-orchestrator.mec-system.svc",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    written = sorted(Path(line).name for line in result.stdout.split())
    assert written == sorted(
        ["ca.crt", "ca.key", "edge-z.crt", "edge-z.key", "orchestrator.crt", "orchestrator.key"]
    )
    pki = AgentPki(out)
    san = load_cert(pki.orchestrator.cert).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert san.value.get_values_for_type(x509.DNSName) == ["mec-orchestrator.mec-system.svc"]


def test_the_devcluster_pki_still_issues_its_certificates(tmp_path: Path) -> None:
    keys = devcluster_pki.generate(tmp_path / "pki", "https://127.0.0.1:6443")
    serving = load_cert(keys.serving_cert)
    assert serving.issuer == load_cert(keys.ca_cert).subject
    admin = load_cert(keys.client_cert(devcluster_pki.ADMIN))
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:masters"
    )
    assert keys.client_key(devcluster_pki.ADMIN).stat().st_mode & 0o777 == 0o600
