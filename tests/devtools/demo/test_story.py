"""The full demo's building blocks, in a short story (the whole demo is `make demo`).

Two edge hosts at EUA sites, two access points, two devices attached over MEC 016 with real
agents measuring the delay line and the reference app running for real; one device crosses
into the other access point's cell and is handed over with its state (MEC 021). The report
is written from what was recorded. Seconds, not minutes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from kubernetes_asyncio import client

from mec_devtools.demo.cast import cast, one_way_ms
from mec_devtools.demo.evidence import (
    Evidence,
    Sample,
    compliance_bins,
    policy_headline,
    served_updates,
    write_report,
)
from mec_devtools.demo.story import edge_app
from mec_devtools.demo.world import GROUP, VERSION, DemoWorld, Site, WorldError, WorldSettings
from mec_devtools.devcluster import ClusterInfo
from mec_devtools.ue.analysis import analyse
from mec_devtools.ue.records import read_records
from tests.e2e.conftest import netns_ready
from tests.e2e.test_agents_drive_placement import cluster_objects

__all__ = ["cluster_objects", "netns_ready"]  # fixtures the story test uses

T = TypeVar("T")

HOSTS = {
    "edge-a": Site("edge-a", -37.815549, 144.966686),
    "edge-b": Site("edge-b", -37.809041, 144.971828),
}
APS = {
    "ap-a": Site("ap-a", -37.8156, 144.9667, "00000b1"),
    "ap-b": Site("ap-b", -37.8091, 144.9718, "00000b2"),
}
DELAYS = {("ap-a", "edge-a"): 1.0, ("ap-a", "edge-b"): 4.0, ("ap-b", "edge-a"): 4.0}
DELAYS[("ap-b", "edge-b")] = 1.0


def _delay(ap: Site, host: Site) -> float:
    return DELAYS[(ap.name, host.name)]


def test_the_cast_is_deterministic_and_sized_for_two_cores() -> None:
    first, again = cast(devices=10), cast(devices=10)
    assert first == again
    assert len(first.hosts) == 4
    assert set(first.starts) == {f"ue{i:02d}" for i in range(10)}
    assert len(first.access_points) <= 60  # one namespace and reflector each
    assert all(m.ap in first.access_points for m in first.moves)
    assert [m.at_s for m in first.moves] == sorted(m.at_s for m in first.moves)
    assert first.moves[-1].at_s <= first.window_s / first.compression


def test_bad_cast_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="not example EdgeHosts"):
        cast(hosts=("site-nowhere",))
    with pytest.raises(ValueError, match="compression"):
        cast(compression=0)
    with pytest.raises(ValueError, match="count"):
        cast(devices=0)


def test_the_delay_line_follows_the_demo_distance_model() -> None:
    near = one_way_ms(APS["ap-a"], HOSTS["edge-a"])
    far = one_way_ms(APS["ap-a"], HOSTS["edge-b"])
    assert 0.5 <= near < far


def test_a_world_without_sites_is_refused(tmp_path: Path) -> None:
    info: Any = None
    with pytest.raises(WorldError, match="edge host"):
        DemoWorld(info, {}, APS, one_way_ms, tmp_path)
    with pytest.raises(WorldError, match="cell id"):
        DemoWorld(info, HOSTS, {"x": Site("x", 0.0, 0.0)}, one_way_ms, tmp_path)


def test_the_policy_headline_comes_from_the_bench_results(tmp_path: Path) -> None:
    source, lines = policy_headline()
    # A fresh clone has only the results docs/policies.md quotes (bench/results/ is not kept).
    assert source.startswith(("bench/results/policies-", "docs/results/policies-"))
    assert any("always-nearest" in line for line in lines)
    empty_source, empty_lines = policy_headline(tmp_path)
    assert empty_source == ""
    assert "No policy comparison results" in empty_lines[0]


def test_compliance_is_judged_on_the_delay_line(tmp_path: Path) -> None:
    records = tmp_path / "ue00.jsonl"
    t0 = 1_000.0
    rows = ['{"kind": "start", "t_ns": 1000000000000, "interval_ns": 200000000}']
    for i in range(20):
        t_ns = int((t0 + i) * 1e9)
        rows.append(f'{{"kind": "send", "t_ns": {t_ns}, "seq": {i + 1}, "target": "x"}}')
        rows.append(
            f'{{"kind": "answer", "t_ns": {t_ns + 5_000_000}, "seq": {i + 1},'
            f' "target": "http://10.1.1.1:8080", "status": 200, "applied": true,'
            f' "latency_ns": 5000000}}'
        )
    records.write_text("\n".join(rows) + "\n")
    evidence = Evidence(budget_ms=2.0, radio_ms=1.0, compression=2.5, trace="t", window_s=10)
    evidence.records = {"ue00": records}
    evidence.device_aps = {"ue00": "ap-a"}
    evidence.applied_moves = [(t0 + 10.0, "ue00", "ap-b")]
    evidence.pod_hosts = {"10.1.1.1": "edge-a"}
    evidence.hosts, evidence.access_points = dict(HOSTS), dict(APS)
    evidence.delay_ms = _delay
    served = served_updates(evidence)
    assert [s.ap for s in served] == ["ap-a"] * 10 + ["ap-b"] * 10
    bins = compliance_bins(served, 2.0, t0)
    assert [round(b[1]) for b in bins] == [100, 0]  # edge-a is 4 ms from ap-b


async def _until(what: str, check: Callable[[], Awaitable[T | None]], within: float) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"{what}: not within {within} s")


@pytest.mark.cluster
async def test_a_short_story_two_hosts_two_devices_one_handover(  # noqa: PLR0915
    crds_installed: ClusterInfo,
    netns_ready: None,
    cluster_objects: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    namespace = f"demo-{int(time.time() * 1000) % 10**8}"
    settings = WorldSettings(namespace=namespace, probe_rate_hz=5, network_prefix="e2e")
    world = DemoWorld(crds_installed, HOSTS, APS, _delay, tmp_path, settings)
    async with world:
        core = client.CoreV1Api(world.api)
        objects = client.CustomObjectsApi(world.api)
        await core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace))
        )
        try:
            world.start_reflectors()
            world.start_rnis()
            port = world.start_operator(live_view=True)
            for host in HOSTS:
                await objects.create_cluster_custom_object(
                    GROUP, VERSION, "edgehosts", world.edge_host(host)
                )
                cluster_objects.append({"plural": "edgehosts", "name": host})
            await objects.create_cluster_custom_object(
                GROUP, VERSION, "zones", world.zone(namespace)
            )
            cluster_objects.append({"plural": "zones", "name": namespace})
            for host in HOSTS:
                world.start_agent(host)
            await world.start_runtime()
            body = edge_app(namespace, budget_ms=2.0, hysteresis_ms=0.1, dwell_s=0)
            await objects.create_namespaced_custom_object(
                GROUP, VERSION, namespace, "edgeapps", body
            )

            async def ready_on_both() -> bool:
                app = await objects.get_namespaced_custom_object(
                    GROUP, VERSION, namespace, "edgeapps", body["metadata"]["name"]
                )
                instances = (app.get("status") or {}).get("instances") or []
                return sorted(i["host"] for i in instances if i.get("ready")) == sorted(HOSTS)

            await _until("instances ready on both hosts", ready_on_both, 120)
            for name in ("ue00", "ue01"):
                device = world.add_device(name, "ap-a")
                await world.rnis_place(device)
                world.start_device(device, body["spec"])
            for device in world.devices.values():
                await asyncio.to_thread(world.device_started, device)
            pods = await world.pod_hosts()
            first = world.devices["ue00"].reference_uri
            assert pods[first.split("//")[1].split(":")[0]] == "edge-a"
            await asyncio.sleep(2.0)
            moved_at = time.time()
            await world.move(world.devices["ue00"], "ap-b")

            async def handed_over() -> list[dict[str, Any]] | None:
                async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                    live = (await http.get(f"http://127.0.0.1:{port}/live/snapshot")).json()
                done = [h for h in live["handovers"] if h["state"] == "completed"]
                return done or None

            handovers = await _until("ue00 handed over to edge-b", handed_over, 60)
            assert [(h["source"], h["target"]) for h in handovers] == [("edge-a", "edge-b")]
            await asyncio.sleep(1.5)
            world.stop_devices()
            evidence = Evidence(
                budget_ms=2.0, radio_ms=1.0, compression=1.0, trace="none", window_s=0
            )
            evidence.t0 = moved_at - 5
            evidence.records = {d.name: d.records for d in world.devices.values()}
            evidence.device_aps = {"ue00": "ap-a", "ue01": "ap-a"}
            evidence.applied_moves = [(moved_at, "ue00", "ap-b")]
            evidence.pod_hosts = pods
            evidence.hosts, evidence.access_points = dict(HOSTS), dict(APS)
            evidence.delay_ms = _delay
            evidence.handovers = {h["id"]: h for h in handovers}
            evidence.samples = [Sample(moved_at, sorted(HOSTS), True, {}, {})]
            evidence.placements = [("during", sorted(HOSTS))]
            report = write_report(evidence, tmp_path / "report")
            assert "edge-a -> edge-b" in report.read_text()
            for name in ("ue00", "ue01"):
                result = analyse(read_records(world.devices[name].records))
                assert result.lost_before_stop == (), result
                assert result.duplicated == (), result
            versions = [
                r["version"]
                for r in read_records(world.devices["ue00"].records)
                if r["kind"] == "answer" and r.get("applied")
            ]
            assert versions == list(range(versions[0], versions[0] + len(versions)))  # state kept
        finally:
            await core.delete_namespace(namespace)
