"""`mec-orchestrator run`: the operator, the agents' server and the HTTP server, in one loop.

The HTTP server carries the ETSI REST API and /healthz, /readyz and /metrics.
/healthz answers while the process runs its event loop; /readyz once kopf has started (connected
and configured); /metrics serves every mec_ metric; the REST API (mec_orchestrator.api) is served
beside them unless MEC_API_ENABLED=false. Replicas coordinate through kopf peering:
only the highest-priority live replica handles events, the others stand by and take over when
its peering record expires.

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

from mec_orchestrator.adapters.kube.connection import discover
from mec_orchestrator.api.app import create_app
from mec_orchestrator.api.server import ApiServer
from mec_orchestrator.api.settings import ApiSettings
from mec_orchestrator.operator.agent_wiring import AgentWiring
from mec_orchestrator.operator.handlers import register
from mec_orchestrator.operator.kopf_compat import PeeringIdentity
from mec_orchestrator.operator.latency_watch import watch_latency
from mec_orchestrator.operator.settings import OperatorSettings
from mec_orchestrator.operator.state import OperatorState


async def run_operator(settings: OperatorSettings, api_settings: ApiSettings | None = None) -> None:
    state = OperatorState(settings, discover(settings.kubeconfig))
    registry = kopf.OperatorRegistry()
    register(registry, state)
    notifier = state.notifier  # MEC_CALLBACKS_* settings
    await notifier.start()
    http = ApiServer(
        create_app(state, api_settings or ApiSettings(), notifier),
        settings.http_host,
        settings.http_port,
        api_settings or ApiSettings(),
    )
    await http.start()
    agents = settings.agent_server()
    link = AgentWiring(state, agents) if agents is not None else None
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
        if link is not None:
            with contextlib.suppress(Exception):
                await link.stop()
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
