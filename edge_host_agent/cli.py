"""The `edge-host-agent` command: run the agent, run a probe reflector, make local certificates.

Every `run` flag has an environment twin (`--host` is `MEC_AGENT_HOST_NAME`, `--probe-rate` is
`MEC_AGENT_PROBE_RATE_HZ`, ...); a flag given wins over the environment. Settings errors are
usage errors that name the setting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from edge_host_agent import __version__
from edge_host_agent.addresses import Address

if TYPE_CHECKING:
    from edge_host_agent.settings import AgentSettings

DEFAULT_REFLECTOR_PORT = 8620


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _validation_message(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        lines.append(f"{field}: {item['msg']}")
    return "; ".join(lines)


@click.group()
@click.version_option(__version__, prog_name="edge-host-agent")
def main() -> None:
    """Edge-host agent: registers an edge host with the MEC orchestrator and measures latency."""


def _access_point(text: str) -> dict[str, str]:
    identifier, sep, reflector = text.partition("=")
    if not sep or not identifier or not reflector:
        raise click.BadParameter(f"{text!r} is not ID=HOST:PORT", param_hint="--access-point")
    return {"id": identifier, "reflector": reflector}


@main.command()
@click.option("--host", "host_name", help="Edge host name (the mec.dev/edge-host label value).")
@click.option("--node", "node_names", multiple=True, help="A Kubernetes node of the host.")
@click.option("--latitude", type=float, help="Where the host stands (decimal degrees).")
@click.option("--longitude", type=float, help="Where the host stands (decimal degrees).")
@click.option("--capacity-instances", type=int, help="App instances the host takes at most.")
@click.option("--capacity-users", type=int, help="Users the host serves at most.")
@click.option(
    "--orchestrator",
    help="host:port of the orchestrator's agent server; several, comma-separated, are tried in "
    "turn (only the active operator replica accepts agents).",
)
@click.option("--orchestrator-server-name", help="Name to verify in its certificate.")
@click.option("--ca-cert", type=click.Path(path_type=Path), help="CA certificate (PEM).")
@click.option("--cert", type=click.Path(path_type=Path), help="This host's certificate (PEM).")
@click.option("--key", type=click.Path(path_type=Path), help="This host's private key (PEM).")
@click.option("--insecure", is_flag=True, default=None, help="Plaintext, no identity (dev only).")
@click.option(
    "--bootstrap-certificate",
    is_flag=True,
    default=None,
    help="Get the certificate through a CertificateSigningRequest (needs --state-dir).",
)
@click.option(
    "--kubeconfig",
    type=click.Path(path_type=Path),
    help="API server access for --bootstrap-certificate (default: the pod's ServiceAccount).",
)
@click.option("--ca-configmap", help="ConfigMap with the orchestrator's CA (bootstrap).")
@click.option("--listen", help="host:port of the agent's own gRPC server (port 0: any).")
@click.option("--advertise", help="host:port the orchestrator uses to reach this agent.")
@click.option(
    "--metrics-listen", help="host:port to serve /metrics, /healthz and /readyz on (default: off)."
)
@click.option(
    "--mp1-listen",
    help="host:port to serve Mp1 (MEC 011 app support) to the host's apps on (default: off).",
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    help="Directory of the handover journal (survives restarts; default: memory only).",
)
@click.option("--peer-server-name", help="Name to verify in other agents' certificates.")
@click.option(
    "--precopy-max-rounds",
    "precopy_max_rounds",
    type=int,
    help="Copies of a user's context sent while the source still serves (0: fence, then copy).",
)
@click.option(
    "--precopy-threshold-bytes",
    "precopy_threshold_bytes",
    type=int,
    help="Pre-copy stops once a round is this small; the fenced round sends the rest.",
)
@click.option(
    "--access-point",
    "access_points",
    multiple=True,
    metavar="ID=HOST:PORT",
    help="An access point and its reflector (repeatable).",
)
@click.option(
    "--access-points-file",
    type=click.Path(path_type=Path),
    help="YAML/JSON list of {id, reflector}.",
)
@click.option("--probe-rate", "probe_rate_hz", type=float, help="Probes per second per AP.")
@click.option("--probe-timeout", "probe_timeout_s", type=float, help="Seconds before a loss.")
@click.option("--report-interval", "report_interval_s", type=float, help="Seconds per batch.")
@click.option("--backoff-initial", "backoff_initial_s", type=float, help="First retry delay.")
@click.option("--backoff-max", "backoff_max_s", type=float, help="Longest retry delay.")
@click.option("--log-level", default="info", show_default=True)
def run(log_level: str, access_points: tuple[str, ...], **flags: Any) -> None:
    """Register this edge host, heartbeat, probe access points and stream the latency."""
    from edge_host_agent.agent import run_agent
    from edge_host_agent.settings import AgentSettings

    overrides = {name: value for name, value in flags.items() if value not in (None, ())}
    if access_points:
        overrides["access_points"] = [_access_point(text) for text in access_points]
    try:
        settings = AgentSettings(**overrides)
    except ValidationError as error:
        raise click.UsageError(_validation_message(error)) from None
    _configure_logging(log_level)
    if not settings.host_name:
        settings = asyncio.run(_host_from_node(settings))
    if settings.bootstrap_certificate:
        asyncio.run(_run_bootstrapped(settings))
    else:
        asyncio.run(run_agent(settings))


async def _host_from_node(settings: AgentSettings) -> AgentSettings:
    """The settings with host_name read from the node's host_label (a DaemonSet's agent)."""
    from edge_host_agent.bootstrap_kube import BootstrapError, KubeCertificates
    from edge_host_agent.settings import AgentSettings

    source = await KubeCertificates.connect(settings.kubeconfig, settings.ca_namespace)
    try:
        host = await source.node_label(settings.node_names[0], settings.host_label)
    except BootstrapError as error:
        raise click.ClickException(f"no host name: {error}") from None
    finally:
        await source.close()
    try:
        return AgentSettings.model_validate({**settings.model_dump(), "host_name": host})
    except ValidationError as error:
        raise click.ClickException(
            f"node {settings.node_names[0]}'s {settings.host_label} label: "
            + _validation_message(error)
        ) from None


async def _run_bootstrapped(settings: AgentSettings) -> None:
    from edge_host_agent.agent import run_agent
    from edge_host_agent.bootstrap import run_bootstrapped
    from edge_host_agent.bootstrap_kube import BootstrapError, KubeCertificates

    source = await KubeCertificates.connect(settings.kubeconfig, settings.ca_namespace)
    try:
        await run_bootstrapped(settings, source, run_agent)
    except (BootstrapError, TimeoutError) as error:
        raise click.ClickException(f"no certificate: {error}") from None
    finally:
        await source.close()


def _port_range(text: str | None) -> list[int]:
    if text is None:
        return []
    first, sep, last = text.partition("-")
    if not (first.isdigit() and (not sep or last.isdigit())):
        raise click.BadParameter(f"{text!r} is not PORT or FIRST-LAST", param_hint="--ports")
    start, end = int(first), int(last or first)
    if not 0 < start <= end <= 65535:
        raise click.BadParameter(f"{text!r}: ports must be 1..65535, in order")
    return list(range(start, end + 1))


@main.command()
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="HOST:PORT",
    help=f"Address to answer probes on (repeatable; default 0.0.0.0:{DEFAULT_REFLECTOR_PORT}).",
)
@click.option("--address", default="0.0.0.0", show_default=True, help="Host for --ports.")  # noqa: S104
@click.option("--ports", metavar="FIRST-LAST", help="Also listen on every port of a range.")
@click.option("--log-level", default="info", show_default=True)
def reflector(listen: tuple[str, ...], address: str, ports: str | None, log_level: str) -> None:
    """Answer latency probes at an access point (one process can stand for many).

    Prints one JSON line with the bound addresses once it listens, then runs until SIGTERM.
    """
    try:
        addresses = [Address.parse(text) for text in listen]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--listen") from None
    addresses += [Address(address, port) for port in _port_range(ports)]
    if not addresses:
        addresses = [Address("0.0.0.0", DEFAULT_REFLECTOR_PORT)]  # noqa: S104
    _configure_logging(log_level)
    asyncio.run(_serve_reflectors(addresses))


async def _serve_reflectors(addresses: list[Address]) -> None:
    from edge_host_agent.reflector import start_reflectors

    started = await start_reflectors(addresses)
    click.echo(json.dumps({"listening": [str(bound) for bound, _, _ in started]}))
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    for _, transport, _ in started:
        transport.close()


@main.command()
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Directory.")
@click.option("--host", "hosts", multiple=True, help="An edge host to issue a certificate for.")
@click.option("--orchestrator-dns", multiple=True, default=("localhost",), show_default=True)
@click.option("--orchestrator-ip", multiple=True, default=("127.0.0.1",), show_default=True)
@click.option("--agent-dns", multiple=True, default=("localhost",), show_default=True)
@click.option("--agent-ip", multiple=True, default=("127.0.0.1",), show_default=True)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
def certs(
    *,
    out: Path,
    hosts: tuple[str, ...],
    orchestrator_dns: tuple[str, ...],
    orchestrator_ip: tuple[str, ...],
    agent_dns: tuple[str, ...],
    agent_ip: tuple[str, ...],
    days: int,
) -> None:
    """Make a CA (or reuse the one in OUT), an orchestrator certificate and one per host.

    Each host's certificate names it in its CN and in the URI SAN
    spiffe://mec.dev/edge-host/<host>, which the orchestrator checks.
    """
    import datetime as dt

    from mec_common.tls import write_agent_pki

    try:
        pki = write_agent_pki(
            out,
            hosts,
            orchestrator_dns=orchestrator_dns,
            orchestrator_ips=orchestrator_ip,
            agent_dns=agent_dns,
            agent_ips=agent_ip,
            validity=dt.timedelta(days=days),
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    for path in sorted(pki.directory.iterdir()):
        click.echo(str(path))


@main.command()
@click.option("--namespace", default="mec-system", show_default=True)
@click.option("--service-account", default="mec-agent", show_default=True)
def rbac(namespace: str, service_account: str) -> None:
    """Print the ClusterRole and Role the agent needs (for installs without helm)."""
    import yaml

    from edge_host_agent.permissions import agent_rules
    from mec_common.rbac import role_documents

    documents = role_documents("mec-agent", namespace, service_account, agent_rules())
    click.echo(yaml.safe_dump_all(documents, sort_keys=False), nl=False)
