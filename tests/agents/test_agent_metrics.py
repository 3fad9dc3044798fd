"""The agent's own /metrics, /healthz and /readyz: a real agent process, scraped over HTTP."""

from __future__ import annotations

import re

import httpx

from mec_common.tls import AgentPki
from mec_devtools.devcluster.cluster import free_port
from mec_orchestrator.adapters.agent_link import AgentServer
from tests.agents.conftest import Processes, start_agent
from tests.helpers import eventually


def sample(text: str, series: str) -> float | None:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_the_agent_exports_its_session_probes_and_samples(
    pki: AgentPki, processes: Processes, reflectors: list[str], orchestrator: AgentServer
) -> None:
    metrics_port = free_port()
    silent = f"127.0.0.1:{free_port()}"  # nothing answers there: every probe is lost
    await start_agent(
        processes,
        orchestrator.port,
        reflectors,
        "--metrics-listen",
        f"127.0.0.1:{metrics_port}",
        "--access-point",
        f"ap-silent={silent}",
        "--probe-timeout",
        "0.2",
        tls=pki.edge_host("edge-a"),
    )
    base = f"http://127.0.0.1:{metrics_port}"
    lost = 'mec_edge_agent_probes_lost_total{access_point="ap-silent"}'
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:

        async def scraped_when_ready() -> str | None:
            try:
                if (await http.get("/readyz")).status_code != 200:
                    return None
                text = (await http.get("/metrics")).text
            except httpx.TransportError:
                return None
            sent = sample(text, "mec_edge_agent_samples_sent_total") or 0
            return text if (sample(text, lost) or 0) > 0 and sent > 0 else None

        text = await eventually(scraped_when_ready, within=20)
        up = f'mec_edge_agent_session_up{{orchestrator="127.0.0.1:{orchestrator.port}"}}'
        assert sample(text, up) == 1.0
        assert (sample(text, 'mec_edge_agent_probe_replies_total{access_point="ap-0"}') or 0) > 0
        assert sample(text, 'mec_edge_agent_probe_replies_total{access_point="ap-silent"}') is None
        assert (sample(text, "mec_edge_agent_rtt_seconds_count") or 0) > 0
        assert (sample(text, 'mec_edge_agent_rtt_seconds_bucket{le="0.05"}') or 0) > 0
        assert (await http.get("/healthz")).status_code == 200

        await orchestrator.stop(0)  # the session ends: not ready, session down

        async def no_session() -> bool:
            answer = await http.get("/readyz")
            text = (await http.get("/metrics")).text
            down = sample(text, 'mec_edge_agent_session_up{orchestrator=""}')
            return answer.status_code == 503 and down == 0.0

        await eventually(no_session, within=20)
