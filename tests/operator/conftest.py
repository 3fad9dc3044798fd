"""The operator as a real process (`python -m mec_orchestrator run`) against the session's
control plane, plus a small edge topology: EdgeHosts for the kwok nodes edge-a/b/c and a Zone
with one access point whose round-trip times the tests set, as an agent's summary would.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import admin_client, free_port
from mec_devtools.launch import operator_command, wait_until_ready
from tests.conftest import EDGE_HOSTS

ACCESS_POINT = "ap-test"
LOCATION = {"latitude": 1.0, "longitude": 1.0}  # far from the Melbourne examples


class OperatorProcess:
    """One `mec-orchestrator run` replica with its own log, probes and metrics port."""

    def __init__(
        self,
        info: ClusterInfo,
        logs: Path,
        priority: int = 100,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """env: extra MEC_OPERATOR_ settings (they win over the test defaults)."""
        self.info = info
        self.priority = priority
        self.env = dict(env or {})
        self.port = free_port()
        self.log = logs / f"operator-{priority}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            "MEC_OPERATOR_PEERING_LIFETIME_SECONDS": "3",
            "MEC_OPERATOR_RESYNC_SECONDS": "5",
            "MEC_OPERATOR_IDENTITY": f"replica-{self.priority}-{self.port}",
            **self.env,
        }
        argv = operator_command(self.info.kubeconfig, self.port, priority=self.priority)
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        if wait_until_ready(self.port, timeout=30, process=self.process):
            return self
        raise AssertionError(f"operator not ready or exited: {self.log.read_text()[-3000:]}")

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=2).text
        match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def reconciles(self) -> float:
        return self.metric("mec_reconcile_seconds_count")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


@pytest.fixture(scope="module")
def operator_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operator-logs")


def _edge_host(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "mec.dev/v1alpha1",
        "kind": "EdgeHost",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"mec.dev/edge-host": name},
            "location": LOCATION,
            "agentEndpoint": f"{name}.agents.local:7070",
        },
    }


class Topology:
    """Sets what the test's 'agents' measured: RTT from each edge host to the access point."""

    def __init__(self, info: ClusterInfo) -> None:
        self.info = info

    def set_rtts(self, rtts: dict[str, float]) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with admin_client(self.info) as http:
            for host, rtt in rtts.items():
                body = {
                    "status": {
                        "accessPointRtt": [
                            {
                                "accessPointId": ACCESS_POINT,
                                "p50Ms": rtt,
                                "p95Ms": rtt,
                                "lastSeen": now,
                            }
                        ]
                    }
                }
                answer = http.patch(
                    f"/apis/mec.dev/v1alpha1/edgehosts/{host}/status",
                    json=body,
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                answer.raise_for_status()

    def fail_node(self, host: str) -> None:
        """The node stops reporting (kwok lets go of it) and turns NotReady."""
        with admin_client(self.info) as http:
            merge = {"Content-Type": "application/merge-patch+json"}
            http.patch(
                f"/api/v1/nodes/{host}",
                json={"metadata": {"annotations": {"kwok.x-k8s.io/node": "down"}}},
                headers=merge,
            ).raise_for_status()
            node = http.get(f"/api/v1/nodes/{host}").json()
            conditions = [
                {**c, "status": "False", "reason": "KubeletDown", "message": "test: node failed"}
                if c["type"] == "Ready"
                else c
                for c in node["status"]["conditions"]
            ]
            http.patch(
                f"/api/v1/nodes/{host}/status",
                json={"status": {"conditions": conditions}},
                headers={"Content-Type": "application/strategic-merge-patch+json"},
            ).raise_for_status()

    def restore_node(self, host: str) -> None:
        with admin_client(self.info) as http:
            http.patch(
                f"/api/v1/nodes/{host}",
                json={
                    "metadata": {"annotations": {"kwok.x-k8s.io/node": "fake"}},
                    "spec": {"unschedulable": None},
                },
                headers={"Content-Type": "application/merge-patch+json"},
            ).raise_for_status()

    def cordon(self, host: str, cordoned: bool = True) -> None:
        with admin_client(self.info) as http:
            http.patch(
                f"/api/v1/nodes/{host}",
                json={"spec": {"unschedulable": cordoned or None}},
                headers={"Content-Type": "application/merge-patch+json"},
            ).raise_for_status()


@pytest.fixture(scope="module")
def topology(crds_installed: ClusterInfo) -> Iterator[Topology]:
    with admin_client(crds_installed) as http:
        for host in EDGE_HOSTS:
            answer = http.post("/apis/mec.dev/v1alpha1/edgehosts", json=_edge_host(host))
            assert answer.status_code in (201, 409), answer.text
        zone = {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "Zone",
            "metadata": {"name": "zone-test"},
            "spec": {
                "accessPoints": [
                    {
                        "id": ACCESS_POINT,
                        "location": LOCATION,
                        "probeReflector": "ap-test.local:8620",
                    }
                ]
            },
        }
        answer = http.post("/apis/mec.dev/v1alpha1/zones", json=zone)
        assert answer.status_code in (201, 409), answer.text
    topo = Topology(crds_installed)
    topo.set_rtts({"edge-a": 30.0, "edge-b": 2.0, "edge-c": 12.0})
    yield topo
    for host in EDGE_HOSTS:
        topo.restore_node(host)


@pytest.fixture(scope="module")
def operator(
    crds_installed: ClusterInfo, topology: Topology, operator_logs: Path
) -> Iterator[OperatorProcess]:
    replica = OperatorProcess(crds_installed, operator_logs).start()
    yield replica
    replica.stop()
