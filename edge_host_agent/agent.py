"""`edge-host-agent run`: the agent's parts put together and run until a signal stops them.

Order matters: the agent's gRPC server starts first (its port is the endpoint the agent
registers), then the link to the orchestrator; probing starts after the first attempt to
register, so that a normal start sends no gap summary, while an agent started with the
orchestrator down measures from then on and reports the gap once it gets through.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from typing import TYPE_CHECKING

from edge_host_agent.addresses import Address
from edge_host_agent.link import OrchestratorLink
from edge_host_agent.metrics import AgentProbeMetrics
from edge_host_agent.prober import Prober
from edge_host_agent.server import AgentGrpcServer
from edge_host_agent.sessions import HostInstances, SessionTable
from edge_host_agent.settings import AgentSettings

if TYPE_CHECKING:
    from edge_host_agent.mp1 import Mp1Service

log = logging.getLogger(__name__)

WILDCARDS = {"0.0.0.0", "::", ""}  # noqa: S104 (recognised, not bound)


def advertised_endpoint(settings: AgentSettings, port: int) -> str:
    """Where the orchestrator reaches this agent: `advertise`, or the listen host and port."""
    if settings.advertise:
        return settings.advertise
    host = Address.parse(settings.listen).host
    return str(Address(socket.gethostname() if host in WILDCARDS else host, port))


def _mp1_parts(settings: AgentSettings) -> tuple[Mp1Service | None, HostInstances | None]:
    """The Mp1 server (not started) and the host's instances with their sessions, if served."""
    if not settings.mp1_listen:
        return None, None
    from edge_host_agent.mp1 import Mp1Service  # FastAPI and uvicorn only when it is served

    mp1 = Mp1Service(settings.mp1_listen)
    return mp1, HostInstances(mp1.registry, SessionTable())


async def run_agent(settings: AgentSettings, stop: asyncio.Event | None = None) -> None:
    """Run the agent until stop is set (or SIGTERM/SIGINT arrives)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    access_points = settings.probed_access_points
    mp1, host = _mp1_parts(settings)
    server = AgentGrpcServer(settings, host)
    port = await server.start()
    endpoint = advertised_endpoint(settings, port)
    log.info("serving handover commands on %s (port %d)", endpoint, port)
    link = OrchestratorLink(settings, access_points, endpoint)
    metrics = AgentProbeMetrics()
    metrics.watch_link(link)
    http = None
    if settings.metrics_listen:
        from edge_host_agent.metrics_http import serve  # aiohttp only when it is served

        http, metrics_port = await serve(metrics, link, settings.metrics_listen)
        log.info("serving /metrics, /healthz, /readyz on port %d", metrics_port)
    if mp1 is not None and host is not None:
        link.report_instances(host)  # each session reports the host's instances and users
        mp1_port = await mp1.start()
        log.info("serving Mp1 (MEC 011) on port %d", mp1_port)
    prober = Prober(
        access_points,
        settings.probe_rate_hz,
        settings.probe_timeout_s,
        metrics.counting_samples(link.on_sample),
        metrics.counting_losses(link.on_lost),
    )
    link.responding_access_points = prober.responding_since_mark
    link_task = asyncio.create_task(link.run(), name="orchestrator-link")
    stopped = asyncio.create_task(stop.wait(), name="stop")
    try:
        attempted = asyncio.create_task(link.first_attempt_done.wait())
        await asyncio.wait((attempted, stopped, link_task), return_when=asyncio.FIRST_COMPLETED)
        attempted.cancel()
        prober.start()
        log.info(
            "probing %d access points at %g Hz each", len(access_points), settings.probe_rate_hz
        )
        await asyncio.wait((stopped, link_task), return_when=asyncio.FIRST_COMPLETED)
        if link_task.done():
            link_task.result()  # the link never ends by itself: surface its error
    finally:
        for task in (stopped, link_task):
            task.cancel()
        await asyncio.gather(stopped, link_task, return_exceptions=True)
        await prober.stop()
        await server.stop()
        if http is not None:
            await http.cleanup()
        if mp1 is not None:
            await mp1.stop()
        log.info("stopped")
