"""`mec-orchestrator run` with the live view on, against the session's real control plane.

The feed's facts come from the operator's real state (kopf watches): the hosts and access
points appear in the snapshot, and an EdgeApp's instance placed by the operator arrives on
the event stream.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mec_devtools.devcluster import ClusterInfo
from mec_devtools.devcluster.cluster import admin_client
from tests.conftest import EDGE_HOSTS
from tests.operator.apps import edge_app
from tests.operator.conftest import ACCESS_POINT, LOCATION, OperatorProcess, Topology

pytestmark = pytest.mark.cluster


def _topology(info: ClusterInfo) -> None:
    """The operator tests' hosts and access point (created once per session, shared)."""
    with admin_client(info) as http:
        for host in EDGE_HOSTS:
            body = {
                "apiVersion": "mec.dev/v1alpha1",
                "kind": "EdgeHost",
                "metadata": {"name": host},
                "spec": {
                    "nodeSelector": {"mec.dev/edge-host": host},
                    "location": LOCATION,
                    "agentEndpoint": f"{host}.agents.local:7070",
                },
            }
            answer = http.post("/apis/mec.dev/v1alpha1/edgehosts", json=body)
            assert answer.status_code in (201, 409), answer.text
        zone = {
            "apiVersion": "mec.dev/v1alpha1",
            "kind": "Zone",
            "metadata": {"name": "zone-test"},
            "spec": {
                "accessPoints": [
                    {"id": ACCESS_POINT, "location": LOCATION, "probeReflector": "ap.local:8620"}
                ]
            },
        }
        answer = http.post("/apis/mec.dev/v1alpha1/zones", json=zone)
        assert answer.status_code in (201, 409), answer.text
    Topology(info).set_rtts({"edge-a": 30.0, "edge-b": 2.0, "edge-c": 12.0})


def _snapshot_with_hosts(url: str, within_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        body: dict[str, Any] = httpx.get(f"{url}/live/snapshot", timeout=5).json()
        if {h["name"] for h in body["hosts"]} >= set(EDGE_HOSTS) and body["sites"]:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"the live view never showed the hosts: {body}")
        time.sleep(0.2)


def test_the_live_view_streams_what_the_operator_places(
    crds_installed: ClusterInfo, tmp_path: Path
) -> None:
    _topology(crds_installed)
    replica = OperatorProcess(
        crds_installed, tmp_path, priority=670, env={"MEC_OPERATOR_LIVE_VIEW": "true"}
    ).start()
    namespace = f"live-{uuid.uuid4().hex[:8]}"
    try:
        url = f"http://127.0.0.1:{replica.port}"
        snapshot = _snapshot_with_hosts(url)
        assert ACCESS_POINT in {s["id"] for s in snapshot["sites"]}
        edge_b = next(h for h in snapshot["hosts"] if h["name"] == "edge-b")
        assert (edge_b["lat"], edge_b["lon"]) == (LOCATION["latitude"], LOCATION["longitude"])
        headers = {"Last-Event-ID": snapshot["id"]}
        with httpx.stream("GET", f"{url}/live/events", headers=headers, timeout=30) as stream:
            with admin_client(crds_installed) as http:
                http.post("/api/v1/namespaces", json={"metadata": {"name": namespace}})
                answer = http.post(
                    f"/apis/mec.dev/v1alpha1/namespaces/{namespace}/edgeapps",
                    json=edge_app("live"),
                )
                assert answer.status_code == 201, answer.text
            placed = _first_instance_put(stream.iter_lines(), namespace)
        assert placed["app"] == "live"
        assert placed["host"] == "edge-b"  # the nearest host from the access point (2 ms)
    finally:
        replica.stop()
        with admin_client(crds_installed) as http:
            http.delete(f"/api/v1/namespaces/{namespace}")


def _first_instance_put(lines: Any, namespace: str) -> dict[str, Any]:
    """The first instance of namespace put on the stream (every event is a delta here)."""
    for line in lines:
        if not line.startswith("data: "):
            continue
        body = json.loads(line.removeprefix("data: "))
        for delta in body.get("deltas", []):
            item = delta.get("item") or {}
            if delta["table"] == "instances" and item.get("namespace") == namespace:
                return dict(item)
    raise AssertionError("the stream ended before the app's instance was placed")
