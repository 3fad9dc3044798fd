"""A real Prometheus scrapes a running orchestrator and two edge-host agents; every query of the
dashboard parses and returns data, and the alert rules load and evaluate.

Real processes only: the session's control plane, `python -m mec_orchestrator run` with its
agent server on 127.0.0.1 (mTLS), two `edge-host-agent run` (edge-a, edge-b) serving /metrics
and probing a reflector process (access point ap-test) and a silent address (ap-silent: its
probes are lost), and Debian's `prometheus` scraping them every second with the job names the
chart's ServiceMonitors give (mec-orchestrator, mec-edge-agent), loading the chart's rule file.

The activity: the agents register and report; an EdgeApp is placed (placements, instances per
app and per host, its SLO gauges, reconcile times); an EdgeApp naming a missing AppPackage makes
reconciles fail (reconcile errors). The counters of handovers and notifications exist at zero,
so their rate panels have data. No device attaches and no handover runs, so three panels have
no value: they are named in NO_DATA and the test checks that they, and only they, lack it.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_common.tls import AgentPki, write_agent_pki
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import free_port
from tests.observability import dashboard_check
from tests.observability.files import DASHBOARDS, RULES, prometheus_tool
from tests.operator.apps import GROUP, VERSION, create_app, deployments, edge_app
from tests.operator.conftest import ACCESS_POINT, OperatorProcess, Topology
from tests.operator.conftest import topology as topology  # noqa: PLC0414 - fixture

pytestmark = pytest.mark.cluster

AGENT_HOSTS = ("edge-a", "edge-b")
WAIT_S = 45.0

# Panels that cannot get a value from this test's activity, and why. Their queries must still
# parse; a panel that gets data, or one missing here that gets none, fails the test.
NO_DATA = {
    "User attach time": "no device attaches (MEC 016), so the histogram has no observation",
    "Handover interruption": "no handover runs, so the histogram has no observation",
    "Handover phases (p99)": "no handover runs, so no phase series exists",
}


@dataclass
class Scene:
    """The processes and the Prometheus that watches them."""

    operator: OperatorProcess
    prometheus_url: str
    namespace: str
    logs: Path

    def diagnostics(self) -> str:
        parts = [f"--- operator ---\n{self.operator.log.read_text(errors='replace')[-3000:]}"]
        for path in sorted(self.logs.glob("*.log")):
            parts.append(f"--- {path.name} ---\n{path.read_text(errors='replace')[-1500:]}")
        return "\n".join(parts)


def _prometheus_config(operator_port: int, agent_ports: list[int]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "mec-orchestrator",
                "static_configs": [{"targets": [f"127.0.0.1:{operator_port}"]}],
            },
            {
                "job_name": "mec-edge-agent",
                "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in agent_ports]}],
            },
        ],
    }


def _start(argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "GRPC_VERBOSITY": "ERROR"}
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stderr=sink, env=env, **kwargs)


def _reflector(logs: Path, processes: list[subprocess.Popen[bytes]]) -> str:
    port = free_port()
    argv = [sys.executable, "-m", "edge_host_agent", "reflector", "--listen", f"127.0.0.1:{port}"]
    processes.append(_start(argv, logs / "reflector.log", stdout=subprocess.DEVNULL))
    return f"127.0.0.1:{port}"


def _agent(
    host: str, orchestrator: str, reflector: str, pki: AgentPki, logs: Path
) -> tuple[subprocess.Popen[bytes], int]:
    files = pki.edge_host(host)
    metrics_port = free_port()
    argv = [sys.executable, "-m", "edge_host_agent", "run", "--host", host]
    argv += ["--orchestrator", orchestrator, "--listen", "127.0.0.1:0"]
    argv += ["--ca-cert", str(files.ca_cert), "--cert", str(files.cert), "--key", str(files.key)]
    argv += ["--access-point", f"{ACCESS_POINT}={reflector}"]
    argv += ["--access-point", "ap-silent=127.0.0.1:9"]  # the discard port: nothing answers
    argv += ["--probe-rate", "10", "--backoff-initial", "0.2", "--backoff-max", "1"]
    argv += ["--metrics-listen", f"127.0.0.1:{metrics_port}"]
    return _start(argv, logs / f"agent-{host}.log", stdout=subprocess.DEVNULL), metrics_port


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _delete_apps(api: client.ApiClient, namespace: str) -> None:
    """Delete the test's EdgeApps while the operator runs (it removes their finalizer)."""
    objects = client.CustomObjectsApi(api)
    listed = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "edgeapps")
    for app in listed["items"]:
        try:
            await objects.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "edgeapps", app["metadata"]["name"]
            )
        except ApiException as error:
            if error.status != 404:
                raise
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "edgeapps")
        if not left["items"]:
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"EdgeApps of {namespace} not deleted within 60 s")


@pytest.fixture
async def scene(  # noqa: PLR0917 - the fixture wires every real process together
    api: client.ApiClient,
    crds_installed: ClusterInfo,
    topology: Topology,
    namespace: str,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> AsyncIterator[Scene]:
    pki = write_agent_pki(tmp_path / "pki", AGENT_HOSTS)
    orchestrator = f"127.0.0.1:{free_port()}"
    peering = f"obs-{uuid.uuid4().hex[:8]}"
    operator = OperatorProcess(
        crds_installed,
        tmp_path,
        env={
            "MEC_OPERATOR_PEERING_NAME": peering,
            "MEC_OPERATOR_AGENTS_LISTEN": orchestrator,
            "MEC_OPERATOR_AGENTS_CA_CERT": str(pki.orchestrator.ca_cert),
            "MEC_OPERATOR_AGENTS_CERT": str(pki.orchestrator.cert),
            "MEC_OPERATOR_AGENTS_KEY": str(pki.orchestrator.key),
            "MEC_OPERATOR_AGENTS_HEARTBEAT_SECONDS": "0.5",
            "MEC_OPERATOR_AGENTS_STATUS_SECONDS": "2",
        },
    )
    reflector = _reflector(tmp_path, processes)
    agent_ports = []
    prometheus_port = free_port()
    try:
        operator.start()
        for host in AGENT_HOSTS:
            agent, port = _agent(host, orchestrator, reflector, pki, tmp_path)
            processes.append(agent)
            agent_ports.append(port)
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump(_prometheus_config(operator.port, agent_ports)))
        argv = [
            str(prometheus_tool("prometheus")),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ]
        processes.append(_start(argv, tmp_path / "prometheus.log", stdout=subprocess.DEVNULL))
        yield Scene(operator, f"http://127.0.0.1:{prometheus_port}", namespace, tmp_path)
    finally:
        try:
            await _delete_apps(api, namespace)
        finally:
            operator.stop()
            try:
                await client.CustomObjectsApi(api).delete_cluster_custom_object(
                    "kopf.dev", "v1", "clusterkopfpeerings", peering
                )
            except ApiException as error:
                if error.status != 404:
                    raise


async def _query(http: httpx.AsyncClient, expr: str) -> list[dict[str, Any]]:
    """The instant query's result; fails on anything but success (a parse error above all)."""
    answer = await http.get("/api/v1/query", params={"query": expr})
    body = answer.json()
    assert answer.status_code == 200, f"{expr!r}: {body.get('error')}"
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _has_value(result: list[dict[str, Any]]) -> bool:
    return any(math.isfinite(float(series["value"][1])) for series in result)


async def _wait_for(what: str, check: Any, scene: Scene) -> Any:
    deadline = time.monotonic() + WAIT_S
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: not within {WAIT_S} s (last: {last!r})\n{scene.diagnostics()}")


async def test_prometheus_gets_data_for_every_panel_of_the_dashboard(
    scene: Scene, api: client.ApiClient
) -> None:
    panels = dashboard_check.panels(DASHBOARDS / "mec-orchestrator.json")
    assert set(NO_DATA) <= {p.title for p in panels}, "NO_DATA names a panel that is gone"

    # Activity: one app placed, one whose package is missing (its reconciles fail).
    await create_app(api, scene.namespace, edge_app("obs-app", max_ms=50))
    missing = edge_app("obs-missing")
    del missing["spec"]["template"]
    missing["spec"]["appPackageRef"] = {"name": "no-such-package"}
    await create_app(api, scene.namespace, missing)

    async def placed() -> dict[str, Any]:
        return await deployments(api, scene.namespace, "obs-app")

    await _wait_for("obs-app placed", placed, scene)

    async with httpx.AsyncClient(base_url=scene.prometheus_url, timeout=5) as http:

        async def ready() -> bool:
            try:
                return (await http.get("/-/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await _wait_for("Prometheus ready", ready, scene)

        async def targets_up() -> bool:
            result = await _query(http, "up")
            return len(result) == 3 and all(s["value"][1] == "1" for s in result)

        await _wait_for("all three targets scraped", targets_up, scene)

        missing_data: dict[str, list[str]] = {}

        async def every_panel_has_data() -> bool:
            missing_data.clear()
            for panel in panels:
                if panel.title in NO_DATA:
                    continue
                for ref, expr in panel.queries.items():
                    if not _has_value(await _query(http, expr)):
                        missing_data.setdefault(panel.title, []).append(ref)
            return not missing_data

        try:
            await _wait_for("data for every panel", every_panel_has_data, scene)
        except AssertionError as error:
            raise AssertionError(f"panels without data: {missing_data}") from error

        # The panels without data parse, and have no value indeed (update NO_DATA if they do).
        for panel in panels:
            if panel.title in NO_DATA:
                for expr in panel.queries.values():
                    assert not _has_value(await _query(http, expr)), panel.title

        # The activity shows: the failing app's reconcile errors, the placed app's figures.
        errors = await _query(
            http, 'sum by (reason) (rate(mec_reconcile_errors_total{reason="PackageMissing"}[5m]))'
        )
        assert float(errors[0]["value"][1]) > 0
        instances = await _query(
            http, f'mec_edgeapp_instances{{namespace="{scene.namespace}", edgeapp="obs-app"}}'
        )
        assert float(instances[0]["value"][1]) >= 1
        lost = await _query(
            http, 'sum(rate(mec_edge_agent_probes_lost_total{access_point="ap-silent"}[5m]))'
        )
        assert float(lost[0]["value"][1]) > 0

        # The chart's rules load into the real Prometheus and evaluate without error.
        rules = (await http.get("/api/v1/rules")).json()["data"]["groups"]
        evaluated = [rule for group in rules for rule in group["rules"]]
        assert len(evaluated) == len(
            [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
        )

        async def rules_healthy() -> list[Any]:
            groups = (await http.get("/api/v1/rules")).json()["data"]["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            return rules if all(r["health"] == "ok" for r in rules) else []

        await _wait_for("every rule evaluated", rules_healthy, scene)
