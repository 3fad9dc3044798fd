"""`mec-orchestrator run`: the operator, the agents' server and the HTTP server, in one loop.

The HTTP server carries the ETSI REST API and /healthz, /readyz and /metrics.
/healthz answers while the process runs its event loop; /readyz once kopf has started (connected
and configured); /metrics serves every mec_ metric; the REST API (mec_orchestrator.api) is served
beside them unless MEC_API_ENABLED=false. Replicas coordinate through kopf peering:
only the highest-priority live replica handles events, the others stand by and take over when
its peering record expires.

With the agents' server come the users (`operator.users`): devices attach over MEC 016 and
the agents hold their sessions; with an RNIS (`MEC_OPERATOR_RNIS_URL`) its cell changes move
them (`operator.rnis_link`, `operator.cell_changes`).

Beside kopf, in the same event loop, run the latency watch (wakes apps when the best hosts
change) and, when `agents_listen` is set, the edge-host agents' gRPC server (agent_link). Both
start before kopf, so agents can connect while kopf loads its view; the agent server stops in
kopf's cleanup, the watch after kopf returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import kopf

from mec_orchestrator.adapters.agent_link.commands import AgentClientSettings, AgentSessions
from mec_orchestrator.adapters.kube.connection import discover
from mec_orchestrator.adapters.rnis import RnisClient
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.routers.rnis_callbacks import callback_path
from mec_orchestrator.api.server import ApiServer
from mec_orchestrator.api.settings import ApiSettings
from mec_orchestrator.operator import certificates
from mec_orchestrator.operator.agent_wiring import AgentWiring
from mec_orchestrator.operator.cell_changes import CellChangeIntake
from mec_orchestrator.operator.handlers import register
from mec_orchestrator.operator.handover_story import HandoverStory
from mec_orchestrator.operator.kopf_compat import PeeringIdentity
from mec_orchestrator.operator.latency_watch import watch_latency
from mec_orchestrator.operator.live_feed import LiveFeed
from mec_orchestrator.operator.rnis_link import RnisLink
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState
from mec_orchestrator.operator.users import UserDirectory


def _agent_client(settings: OperatorSettings) -> AgentSessions:
    """How the orchestrator calls the agents: with the agent server's TLS identity."""
    server = settings.agent_server()  # its files, or the bootstrapped ones (certificates.md)
    tls = None if server is None else server.tls_files()
    return AgentSessions(AgentClientSettings(tls, settings.agents_server_name or None))


def _users(
    settings: OperatorSettings, state: OperatorState, link: AgentWiring
) -> tuple[UserDirectory, AgentSessions, RnisLink | None, CellChangeIntake | None]:
    """The users' directory, the agents' client, and the RNIS link and intake (if an RNIS)."""
    agent_client = _agent_client(settings)

    def agent_endpoint(host: str) -> str | None:
        record = link.server.registry.get(host)
        return None if record is None else record.registration.agent_endpoint

    rnis = None
    intake = None
    if settings.rnis_url:
        rnis = RnisLink(RnisClient(settings.rnis_url), "", settings.rnis_check_seconds)
    users = UserDirectory(
        state,
        agent_client,
        agent_endpoint,
        state.notifier,
        locate=None if rnis is None else rnis.locate,
        handover_timeout_s=settings.handover_timeout_seconds,
    )
    state.users = users
    users.on_handover(HandoverStory(state).told)  # Events on the EdgeApps
    if rnis is not None:
        intake = CellChangeIntake(users)
        rnis.callback = settings.rnis_callback_uri.rstrip("/") + callback_path(intake.token)
    return users, agent_client, rnis, intake


async def run_operator(settings: OperatorSettings, api_settings: ApiSettings | None = None) -> None:
    state = OperatorState(settings, discover(settings.kubeconfig))
    registry = kopf.OperatorRegistry()
    register(registry, state)
    notifier = state.notifier  # MEC_CALLBACKS_* settings
    await notifier.start()
    if settings.certificates_bootstrap:  # the CA and serving certificate, before the server
        signer = await certificates.bootstrap(settings, state.connection)
        certificates.register(registry, state, signer)  # agents' CSRs (docs/certificates.md)
    agents = settings.agent_server()
    link = AgentWiring(state, agents) if agents is not None else None
    users = agent_client = rnis = intake = None
    if link is not None:
        users, agent_client, rnis, intake = _users(settings, state, link)
    live = LiveFeed(state) if settings.live_view else None  # after the users' directory
    if live is not None:
        await live.start()
    http = ApiServer(
        create_app(state, api_settings or ApiSettings(), notifier, users, intake, live=live),
        settings.http_host,
        settings.http_port,
        api_settings or ApiSettings(),
    )
    await http.start()
    if link is not None:
        # Stopped in kopf's cleanup, before kopf waits for the tasks it did not start (agents'
        # calls among them): agents see the server go away at once, not after that wait.
        @kopf.on.cleanup(registry=registry)
        async def stop_agent_server(**_: Any) -> None:
            await link.stop()

    watch = asyncio.create_task(
        watch_latency(state, settings.latency_check_seconds), name="latency-watch"
    )
    try:
        if link is not None:
            await link.start()
        if rnis is not None:
            await rnis.start()
        await kopf.operator(
            registry=registry,
            clusterwide=True,
            standalone=settings.standalone,
            priority=settings.priority,
            peering_name=settings.peering_name,
            identity=PeeringIdentity(settings.identity),
        )
    finally:
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        if rnis is not None:
            with contextlib.suppress(Exception):
                await rnis.stop()
        if link is not None:
            with contextlib.suppress(Exception):
                await link.stop()
        if agent_client is not None:
            with contextlib.suppress(Exception):
                await agent_client.close()
        if live is not None:  # ends the live streams, so the HTTP server need not wait for them
            await live.stop()
        with contextlib.suppress(Exception):
            await http.stop()
        with contextlib.suppress(Exception):
            await notifier.stop()


def main(settings: OperatorSettings, verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(run_operator(settings))
