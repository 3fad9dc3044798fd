"""`mec-orchestrator demo --story full`: the whole product, live, on one machine.

Why it exists: it is the demo's script. It starts the world (`world.py`) on the local control
plane for the cast (`cast.py`): real agents measure the delay line, the reference app runs for
real on the hosts the orchestrator picks, devices attach over MEC 016 and follow SUMO traces
(time compressed), the emulated RNIS tells each cell change and users are handed over with
their state (MEC 021); midway one host's backhaul degrades and recovers, then one agent is
killed and comes back. A sampler records what the orchestrator says every second (EdgeApp
status, the live view's handovers); `evidence.py` turns it into the report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from mec_devtools.demo.cast import Cast, cast, one_way_ms
from mec_devtools.demo.evidence import Evidence, Sample, write_report
from mec_devtools.demo.world import GROUP, VERSION, DemoWorld, WorldSettings
from mec_devtools.devcluster.cluster import ClusterInfo

T = TypeVar("T")
APP = "reference-anchors"
ZONE = "demo-cbd"


def _say(message: str) -> None:
    click.echo(f"[demo {time.strftime('%H:%M:%S')}] {message}", err=True)


def edge_app(
    namespace: str, budget_ms: float, hysteresis_ms: float, dwell_s: float
) -> dict[str, Any]:
    """The reference app (examples/edgeapp-reference-anchors.yaml) with its state handed over."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "EdgeApp",
        "metadata": {"name": APP, "namespace": namespace},
        "spec": {
            "appDId": "mec-reference-anchors",
            "appName": APP,
            "appProvider": "mec-orchestrator",
            "appSoftVersion": "0.1.0",
            "latency": {"maxMs": budget_ms},
            "mobility": {
                "level": "WithoutConfirmation",
                "contextTransfer": "MecAssisted",
                "hysteresisMs": hysteresis_ms,
                "minDwellSeconds": dwell_s,
            },
            "placement": {"warmStandby": 0, "idleSeconds": 20},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "anchors",
                            "image": "ghcr.io/mec-orchestrator/reference-app:0.1.0",
                            "command": ["mec-reference-app"],
                            "args": [
                                "--listen",
                                "$(MEC_POD_IP):8080",
                                "--context-listen",
                                "$(MEC_POD_IP):9090",
                                "--state-bytes",
                                "4096",
                            ],
                            "ports": [{"containerPort": 8080}, {"containerPort": 9090}],
                            "readinessProbe": {
                                "httpGet": {"path": "/readyz", "port": 8080},
                                "periodSeconds": 1,
                            },
                        }
                    ]
                }
            },
        },
    }


@dataclass
class StorySettings:
    """The knobs of the story; the defaults are the demo's (docs/demo.md says why)."""

    devices: int = 10
    window_s: float = 300.0
    compression: float = 2.5
    budget_ms: float = 2.0
    hysteresis_ms: float = 0.1
    dwell_s: float = 2.0
    degrade_ms: float = 3.0
    world: WorldSettings = field(default_factory=WorldSettings)


class FullStory:
    """Runs the story against a running control plane and writes the evidence."""

    def __init__(
        self, info: ClusterInfo, out: Path, workdir: Path, settings: StorySettings | None = None
    ) -> None:
        """out: where the report goes; workdir: logs, certificates and records of the run."""
        self.info = info
        self.out = out
        self.workdir = workdir
        self.settings = settings or StorySettings()
        s = self.settings
        self.cast: Cast = cast(s.devices, s.window_s, s.compression)
        self.evidence = Evidence(
            budget_ms=s.budget_ms,
            radio_ms=s.world.radio_one_way_ms,
            compression=s.compression,
            trace=self.cast.trace,
            window_s=self.cast.window_s,
        )
        self.evidence.t0 = time.time()
        self._sampling = True
        self._available: dict[str, bool] = {}
        self._instances: list[str] = []

    def at(self) -> float:
        return round(time.time() - self.evidence.t0, 1)

    def mark(self, text: str) -> None:
        self.evidence.timeline.append((self.at(), text))
        _say(text)

    async def run(self) -> Evidence:
        c = self.cast
        workdir = self.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        world = DemoWorld(
            self.info, c.hosts, c.access_points, one_way_ms, workdir, self.settings.world
        )
        self.mark(
            f"building the world: {len(c.hosts)} edge hosts and {len(c.access_points)} access"
            f" points at EUA Melbourne sites, {len(c.starts)} devices, one delay line"
        )
        async with world:
            await self._wait("the CRDs served", lambda: _served(world), 60)
            await self._clear(world)
            world.start_reflectors()
            world.start_rnis()
            self.mark(f"{len(world.reflectors)} probe reflectors and the RNIS emulator running")
            port = world.start_operator(live_view=True)
            self.evidence.live_url = f"http://127.0.0.1:{port}/live/"
            self.mark(f"orchestrator running; LIVE VIEW: http://127.0.0.1:{port}/live/")
            objects = client.CustomObjectsApi(world.api)
            for host in c.hosts:
                await objects.create_cluster_custom_object(
                    GROUP, VERSION, "edgehosts", world.edge_host(host)
                )
            await objects.create_cluster_custom_object(GROUP, VERSION, "zones", world.zone(ZONE))
            for host in sorted(c.hosts):
                world.start_agent(host)
            await world.start_runtime()
            self.mark(
                f"{len(c.hosts)} agents started (mTLS), probing {len(c.access_points)} reflectors"
                f" at {self.settings.world.probe_rate_hz:g}/s each; emulated runtime running"
            )
            await self._wait(
                "every agent connected and every access point measured",
                lambda: self._agents(world),
                90,
            )
            self.mark("every agent connected; every (host, access point) RTT measured")
            sampler = asyncio.create_task(self._sample(world))
            try:
                await self._story(world, objects)
            finally:
                self._sampling = False
                with contextlib.suppress(Exception):
                    await sampler
            self.evidence.events = await _events(world)
            world.stop_devices()
            self.mark("devices stopped (their app contexts deleted)")
            self.evidence.records = {d.name: d.records for d in world.devices.values()}
            self.evidence.device_aps = dict(c.starts.items())
            self.evidence.moves = list(c.moves)
            self.evidence.hosts = dict(c.hosts)
            self.evidence.access_points = dict(c.access_points)
            await self._clear(world)
        write_report(self.evidence, self.out)
        return self.evidence

    async def _story(self, world: DemoWorld, objects: client.CustomObjectsApi) -> None:
        s, c = self.settings, self.cast
        body = edge_app(world.settings.namespace, s.budget_ms, s.hysteresis_ms, s.dwell_s)
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, world.settings.namespace, "edgeapps", body
        )
        self.mark(
            f"applied EdgeApp {APP} ({s.budget_ms:g} ms one way, state handed over"
            " (MecAssisted), the reference app as real processes)"
        )
        hosts = await self._wait("instances ready", lambda: self._ready_hosts(world), 120)
        self.evidence.placements.append(("before", sorted(hosts)))
        self.mark(f"instances ready on {', '.join(sorted(hosts))}")

        for name, ap in sorted(c.starts.items()):
            device = world.add_device(name, ap)
            await world.rnis_place(device)
            world.start_device(device, body["spec"])
        for device in world.devices.values():
            await asyncio.to_thread(world.device_started, device)
        self.mark(f"{len(world.devices)} devices attached over MEC 016 (each in its namespace)")

        play_s = c.window_s / c.compression
        incidents: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (0.25 * play_s, lambda: self._degrade(world)),
            (0.5 * play_s, lambda: self._recover(world)),
            (0.65 * play_s, lambda: self._kill_agent(world)),
            (0.9 * play_s, lambda: self._restart_agent(world)),
        ]
        self.mark(
            f"devices follow SUMO trace {c.trace} ({c.window_s:.0f} s of it, {c.compression:g}x"
            f" faster: {play_s:.0f} s, {len(c.moves)} cell changes)"
        )
        start = time.monotonic()
        pending = list(c.moves)
        progress = 0.0
        while pending or incidents:
            now = time.monotonic() - start
            while pending and pending[0].at_s <= now:
                move = pending.pop(0)
                await world.move(world.devices[move.device], move.ap)
                self.evidence.applied_moves.append((time.time(), move.device, move.ap))
            while incidents and incidents[0][0] <= now:
                _, incident = incidents.pop(0)
                await incident()
            if now - progress >= 15:
                progress = now
                done = len(c.moves) - len(pending)
                handed = sum(1 for h in self.evidence.handovers.values() if h["state"] != "started")
                _say(f"  t={now:5.0f}/{play_s:.0f} s: {done} cell changes, {handed} handovers")
            await asyncio.sleep(0.05)
        await asyncio.sleep(5)  # the last handovers finish
        final = await self._ready_hosts(world) or set()
        self.evidence.placements.append(("at the end", sorted(final)))
        self.mark(f"story over; instances on {', '.join(sorted(final)) or 'none ready'}")

    async def _degrade(self, world: DemoWorld) -> None:
        host = self._busiest_host()
        self.evidence.degraded = host
        world.degrade(host, self.settings.degrade_ms)
        self.mark(f"backhaul of {host} degrades: +{self.settings.degrade_ms:g} ms one way")
        self.evidence.degraded_at = self.at()

    async def _recover(self, world: DemoWorld) -> None:
        host = self.evidence.degraded
        if host:
            world.degrade(host, 0.0)
            self.mark(f"backhaul of {host} recovers")
            hosts = await self._ready_hosts(world)
            self.evidence.placements.append((f"{host} degraded", sorted(hosts or set())))

    async def _kill_agent(self, world: DemoWorld) -> None:
        host = self._busiest_host(exclude=self.evidence.degraded)
        self.evidence.killed = host
        world.kill_agent(host)
        self.mark(f"agent of {host} killed (kill -9); the orchestrator should call it lost")

    async def _restart_agent(self, world: DemoWorld) -> None:
        host = self.evidence.killed
        if host:
            world.start_agent(host)
            self.mark(f"agent of {host} started again")

    def _busiest_host(self, exclude: str = "") -> str:
        """The host serving most devices now (from the newest sample), else the first host."""
        latest = self.evidence.samples[-1] if self.evidence.samples else None
        counts: dict[str, int] = {h: 0 for h in sorted(self.cast.hosts) if h != exclude}
        if latest is not None:
            for host in latest.device_hosts.values():
                if host in counts:
                    counts[host] += 1
        return max(counts, key=lambda h: counts[h])

    # -- waiting and sampling ------------------------------------------------------------
    async def _wait(self, what: str, check: Callable[[], Awaitable[T | None]], within: float) -> T:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.5)
        raise TimeoutError(f"{what}: not within {within:.0f} s (logs: {self.workdir / 'logs'})")

    async def _agents(self, world: DemoWorld) -> bool:
        objects = client.CustomObjectsApi(world.api)
        for host in self.cast.hosts:
            body = await objects.get_cluster_custom_object(GROUP, VERSION, "edgehosts", host)
            status = body.get("status") or {}
            measured = status.get("accessPointRtt") or []
            if not status.get("agentConnected") or len(measured) < len(self.cast.access_points):
                return False
        return True

    async def _ready_hosts(self, world: DemoWorld) -> set[str] | None:
        app = await _app(world)
        instances = (app.get("status") or {}).get("instances") or []
        hosts = {i["host"] for i in instances if i.get("ready")}
        return hosts if hosts and len(hosts) == len(instances) else None

    async def _sample(self, world: DemoWorld) -> None:
        """Every second: the app's status, the pods' hosts and the live view's handovers."""
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            while self._sampling:
                with contextlib.suppress(Exception):
                    await self._sample_once(world, http)
                await asyncio.sleep(1.0)

    async def _sample_once(self, world: DemoWorld, http: httpx.AsyncClient) -> None:
        app = await _app(world)
        status = app.get("status") or {}
        conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
        self.evidence.pod_hosts.update(await world.pod_hosts())
        snapshot = (await http.get(f"http://127.0.0.1:{world.http_port}/live/snapshot")).json()
        for handover in snapshot.get("handovers") or []:
            self.evidence.handovers[handover["id"]] = handover
        device_hosts = {
            str(d.get("context_id")): str(d.get("host")) for d in snapshot.get("devices") or []
        }
        self._tell_changes(snapshot, status)
        self.evidence.samples.append(
            Sample(
                t=time.time(),
                instances=sorted(
                    f"{i['host']}{'' if i.get('ready') else ' (starting)'}"
                    for i in status.get("instances") or []
                ),
                slo_met=conditions.get("LatencySLOMet") == "True",
                device_hosts=device_hosts,
                extra_ms=dict(world.extra_ms),
            )
        )

    def _tell_changes(self, snapshot: dict[str, Any], status: dict[str, Any]) -> None:
        """What the orchestrator did, on the timeline: hosts lost or back, instances moved."""
        available = {
            str(h["name"]): bool(h.get("available"))
            for h in snapshot.get("hosts") or []
            if h.get("name") in self.cast.hosts
        }
        for host, now in sorted(available.items()):
            before = self._available.get(host)
            if before is not None and before != now:
                state = "available again" if now else "unavailable (its agent is lost)"
                self.mark(f"orchestrator: {host} {state}")
        self._available.update(available)
        instances = sorted(i["host"] for i in status.get("instances") or [])
        if instances and instances != self._instances:
            if self._instances:
                self.mark(f"orchestrator: instances now on {', '.join(instances)}")
            self._instances = instances

    async def _clear(self, world: DemoWorld) -> None:
        """The demo's objects of earlier runs (EdgeApps of its namespace, EdgeHosts, Zones).

        Their finalizers go first: an earlier run that stopped with no orchestrator running
        would otherwise leave them terminating for ever.
        """
        objects = client.CustomObjectsApi(world.api)
        namespace = world.settings.namespace
        unfinalize = [{"op": "remove", "path": "/metadata/finalizers"}]
        apps = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "edgeapps")
        for item in apps.get("items", []):
            name = item["metadata"]["name"]
            with contextlib.suppress(ApiException):
                if item["metadata"].get("finalizers"):
                    await objects.patch_namespaced_custom_object(
                        GROUP, VERSION, namespace, "edgeapps", name, unfinalize
                    )
                await objects.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, "edgeapps", name
                )
        for plural in ("edgehosts", "zones"):
            listed = await objects.list_cluster_custom_object(GROUP, VERSION, plural)
            for item in listed.get("items", []):
                name = item["metadata"]["name"]
                with contextlib.suppress(ApiException):
                    if item["metadata"].get("finalizers"):
                        await objects.patch_cluster_custom_object(
                            GROUP, VERSION, plural, name, unfinalize
                        )
                    await objects.delete_cluster_custom_object(GROUP, VERSION, plural, name)

        async def gone() -> bool:
            left = await objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "edgeapps"
            )
            hosts = await objects.list_cluster_custom_object(GROUP, VERSION, "edgehosts")
            return not left.get("items") and not hosts.get("items")

        await self._wait("earlier demo objects removed", gone, 60)


async def _served(world: DemoWorld) -> bool:
    """Whether the API server lists EdgeApps yet (a CRD's storage starts a moment after)."""
    objects = client.CustomObjectsApi(world.api)
    for plural in ("edgehosts", "zones"):
        try:
            await objects.list_cluster_custom_object(GROUP, VERSION, plural)
        except ApiException as error:
            if error.status in (404, 429, 503):
                return False
            raise
    try:
        await objects.list_namespaced_custom_object(
            GROUP, VERSION, world.settings.namespace, "edgeapps"
        )
    except ApiException as error:
        if error.status in (404, 429, 503):
            return False
        raise
    return True


async def _app(world: DemoWorld) -> dict[str, Any]:
    objects = client.CustomObjectsApi(world.api)
    try:
        body: dict[str, Any] = await objects.get_namespaced_custom_object(
            GROUP, VERSION, world.settings.namespace, "edgeapps", APP
        )
    except ApiException:
        return {}
    return body


async def _events(world: DemoWorld) -> list[str]:
    core = client.CoreV1Api(world.api)
    listed = await core.list_namespaced_event(world.settings.namespace)
    rows = []
    for event in listed.items:
        if event.involved_object and event.involved_object.kind == "EdgeApp":
            stamp = event.last_timestamp or event.event_time or event.first_timestamp
            when = stamp.timestamp() if stamp is not None else 0.0
            rows.append((when, f"{event.reason}: {(event.message or '')[:150]}"))
    return [text for _, text in sorted(rows)]
