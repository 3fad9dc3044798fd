"""`mec-orchestrator selftest`: what `helm test` checks in a running installation.

Three checks, each retried until a deadline: the REST API answers /readyz; an ETSI call
(MEC 010-2 `GET app_instances`) is authorised with the caller's own ServiceAccount token (so
TokenReview and SubjectAccessReview work with the chart's RBAC); and at least one edge host's
agent holds a session with the orchestrator (its EdgeHost says `agentConnected`). It runs in the
chart's test pod with the in-cluster identity, or from a shell with a kubeconfig.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from mec_orchestrator.adapters.kube import objects
from mec_orchestrator.adapters.kube.connection import discover
from mec_orchestrator.model import EdgeHost

RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str


async def _until(
    name: str, check: Callable[[], Awaitable[tuple[bool, str]]], deadline: float
) -> CheckResult:
    detail = "not tried"
    while True:
        try:
            passed, detail = await check()
        except (httpx.HTTPError, OSError) as error:
            passed, detail = False, f"{type(error).__name__}: {error}"
        if passed or time.monotonic() >= deadline:
            return CheckResult(name, passed, detail)
        await asyncio.sleep(RETRY_SECONDS)


async def run_checks(
    api_url: str, token: str | None, kubeconfig: Path | None, timeout_s: float
) -> list[CheckResult]:
    """Run the three checks in order; each may take until the common deadline."""
    deadline = time.monotonic() + timeout_s
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    results: list[CheckResult] = []
    async with httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=5.0) as http:

        async def ready() -> tuple[bool, str]:
            answer = await http.get("/readyz")
            return answer.status_code == 200, f"/readyz answered {answer.status_code}"

        async def etsi_call() -> tuple[bool, str]:
            answer = await http.get("/app_lcm/v1/app_instances", headers=headers)
            body = answer.json() if answer.status_code == 200 else answer.text[:200]
            ok = answer.status_code == 200 and isinstance(body, list)
            return ok, f"GET /app_lcm/v1/app_instances answered {answer.status_code}"

        results.append(await _until("api-ready", ready, deadline))
        results.append(await _until("etsi-authorised-call", etsi_call, deadline))

    api = discover(kubeconfig).api_client()
    try:

        async def agent_session() -> tuple[bool, str]:
            hosts = await objects.list_objects(api, EdgeHost.PLURAL, None)
            connected = sorted(
                str(host["metadata"]["name"])
                for host in hosts
                if (host.get("status") or {}).get("agentConnected") is True
            )
            if connected:
                return True, f"agents connected on: {', '.join(connected)}"
            return False, f"no agent connected ({len(hosts)} EdgeHosts)"

        results.append(await _until("agent-session", agent_session, deadline))
    finally:
        await api.close()
    return results
