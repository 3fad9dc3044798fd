"""The agent's HTTP endpoint: /metrics, /healthz and /readyz, when `metrics_listen` is set.

A module of its own so that an agent without the endpoint does not load aiohttp (about 9 MiB of
resident memory). `/readyz` answers 200 only while a session with the orchestrator is live,
`/healthz` while the process runs.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from edge_host_agent.addresses import Address
from edge_host_agent.metrics import AgentProbeMetrics, LinkState


def http_app(metrics: AgentProbeMetrics, link: LinkState) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        live = link.session_id is not None
        return web.Response(text="session" if live else "no session", status=200 if live else 503)

    async def scrape(_: web.Request) -> web.Response:
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)
    return app


async def serve(
    metrics: AgentProbeMetrics, link: LinkState, listen: str
) -> tuple[web.AppRunner, int]:
    """Serve /metrics, /healthz and /readyz on listen (host:port); the runner and bound port."""
    address = Address.parse(listen)
    runner = web.AppRunner(http_app(metrics, link))
    await runner.setup()
    await web.TCPSite(runner, address.host, address.port).start()
    bound = runner.addresses[0]
    return runner, int(bound[1])
