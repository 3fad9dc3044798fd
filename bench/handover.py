"""Handover with the user's context, make-before-break, as an emulated device sees it.

    python -m bench.handover            # about 9 minutes on 2 shared cores
    python -m bench.handover --quick    # about 2 minutes: few handovers, 50 consecutive

Three network namespaces joined by the delay-line switch (docs/network-emulation.md): `dev`
(the device), `ha` and `hb` (two edge hosts). Each host runs a real `edge-host-agent run`
(plaintext gRPC, `--insecure`, journal in a state directory, Mp1 on 127.0.0.1) and a real
`mec-reference-app --state-bytes N` registered with it; the device (bench/handover_device.py)
writes sequence-numbered updates to the instance serving its user and follows the "not served
here" answers. This process (root namespace, 0 ms to the hosts) drives each handover as the
orchestrator does, with its own client `AgentSessions`: prepare target, prepare source,
transfer (at the source: pre-copy rounds while the source serves, then the fenced rest),
commit target (the commit point: the target instance serves), commit source (it releases).
No orchestrator is in the loop and no radio: the handovers are commanded directly.

Measured, per context size (4 KiB, 256 KiB, 16 MiB) and delays (device-host one way d in
{2, 5} ms, host-host one way h in {1, 5} ms), alternating the direction of every handover:

- **interruption**: from the last applied answer from the source to the first applied answer
  from the target, read from the device's records (time.time_ns() in the device's namespace);
  also from the first refused update (the device noticed) to that first applied answer.
- **physical limit, same run**: the device's RTT to the target (median RTT of its applied
  updates there, in the same configuration) + the time the source agent held the fence while it
  moved the rest (`Transferred.fenced_s`, median).
- **break-before-make**, same run: the same moves with agents started with
  `--precopy-max-rounds 0` (fence, copy everything, serve at the target).
- **consecutive handovers** (1,000; 50 with --quick) back to back at 4 KiB, d=2, h=1 with the
  device at 100 updates/s: updates lost (never applied) and duplicated (applied twice), and the
  owner's record checked against the device's count.
- **driver throughput**: handovers back to back with no device, and where their time goes.

Writes bench/results/handover-<date>.json and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
from mec.agent.v1 import handover_pb2, handover_pb2_grpc

from bench.delayline import machine
from bench.handover_analysis import (
    attribute,
    count_updates,
    load_answers,
    rtt_ms,
    spread,
    transitions,
)
from bench.records import save
from mec_devtools.sim.network import Network, Node
from mec_orchestrator.adapters.agent_link.commands import (
    AgentClientSettings,
    AgentSessions,
    HandoverSide,
    Transferred,
)

AGENT_PORT = 50061
HTTP_PORT = 8080
CONTEXT_PORT = 9090
MP1_PORT = 8090
KIB = 1024
MIB = 1024 * KIB
SIZES = (4 * KIB, 256 * KIB, 16 * MIB)
HANDOVER_TIMEOUT_S = 120.0
INTERRUPTION_CAP_MS = 27.5  # the target at 2 ms device-host one way


def size_label(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"


@dataclass
class Host:
    name: str
    node: Node
    agent: subprocess.Popen[bytes] | None = None
    app: subprocess.Popen[bytes] | None = None
    agent_log: Path | None = None

    @property
    def ip(self) -> str:
        return str(self.node.ip)

    @property
    def grpc(self) -> str:
        return f"{self.ip}:{AGENT_PORT}"

    @property
    def http(self) -> str:
        return f"http://{self.ip}:{HTTP_PORT}"

    @property
    def instance_id(self) -> str:
        return f"{self.name}-app"

    def side(self) -> HandoverSide:
        return HandoverSide(
            namespace="bench",
            edge_app="ref",
            host=self.name,
            deployment=f"ref-{self.name}",
            app_instance_id=self.instance_id,
            user_context_endpoint=f"127.0.0.1:{CONTEXT_PORT}",  # the agent's own host
            endpoint=self.http,
        )


@dataclass
class Timing:
    """One handover as the driver saw it (seconds per call; start on CLOCK_REALTIME)."""

    handover_id: str
    source: str
    target: str
    start_ns: int
    prepare_s: float
    transfer_s: float
    commit_target_s: float
    commit_source_s: float
    moved: Transferred
    labels: dict[str, Any] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return self.prepare_s + self.transfer_s + self.commit_target_s + self.commit_source_s


class Bench:
    """The network, the two hosts, the driver's client; worlds come and go inside it."""

    def __init__(self, net: Network, workdir: Path) -> None:
        self.net = net
        self.workdir = workdir
        self.dev = net.add_node("dev")
        self.hosts = (Host("ha", net.add_node("ha")), Host("hb", net.add_node("hb")))
        self.agents = AgentSessions(AgentClientSettings(tls=None, timeout_s=10.0))
        self.counter = 0
        self.world = 0

    def set_delays(self, device_ms: float, hosts_ms: float) -> None:
        ha, hb = self.hosts
        self.net.set_delay(self.dev, ha.node, device_ms)
        self.net.set_delay(self.dev, hb.node, device_ms)
        self.net.set_delay(ha.node, hb.node, hosts_ms)

    # -- processes ---------------------------------------------------------------------

    async def start_world(self, size: int, precopy_max_rounds: int | None) -> None:
        self.world += 1
        for host in self.hosts:
            await self._start_agent(host, precopy_max_rounds)
            await self._start_app(host, size)

    async def stop_world(self) -> None:
        for host in self.hosts:
            for process in (host.app, host.agent):  # the app first: it deregisters
                if process is not None and process.poll() is None:
                    process.terminate()
                    try:
                        await asyncio.to_thread(process.wait, 10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        await asyncio.to_thread(process.wait, 10)
            host.app = host.agent = None
        await self.agents.close()

    async def _start_agent(self, host: Host, precopy_max_rounds: int | None) -> None:
        base = self.workdir / f"world{self.world}" / host.name
        base.mkdir(parents=True)
        args = ["run", "--host", host.name, "--insecure"]
        # Nobody listens there: the benchmark drives the agents itself.
        args += ["--orchestrator", f"{self.net.gateway}:9", "--backoff-initial", "5"]
        args += ["--backoff-max", "30", "--listen", host.grpc, "--advertise", host.grpc]
        args += ["--mp1-listen", f"127.0.0.1:{MP1_PORT}", "--state-dir", str(base / "journal")]
        if precopy_max_rounds is not None:
            args += ["--precopy-max-rounds", str(precopy_max_rounds)]
        host.agent_log = base / "agent.log"
        env = {**os.environ, "GRPC_VERBOSITY": "ERROR"}
        with host.agent_log.open("wb") as log:
            host.agent = self.net.popen(
                host.node,
                [sys.executable, "-m", "edge_host_agent", *args],
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + 60
        async with grpc.aio.insecure_channel(host.grpc) as channel:
            stub = handover_pb2_grpc.HandoverServiceStub(channel)
            while True:
                try:
                    await stub.GetHandover(
                        handover_pb2.GetHandoverRequest(handover_id="probe"), timeout=1
                    )
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.NOT_FOUND:
                        break
                if time.monotonic() > deadline or host.agent.poll() is not None:
                    raise RuntimeError(f"agent {host.name} did not start: {self._log(host)}")
                await asyncio.sleep(0.2)

    def _log(self, host: Host) -> str:
        return host.agent_log.read_text()[-3000:] if host.agent_log else ""

    async def _start_app(self, host: Host, size: int) -> None:
        args = [f"--listen={host.ip}:{HTTP_PORT}", f"--context-listen=127.0.0.1:{CONTEXT_PORT}"]
        args += [f"--mp1-url=http://127.0.0.1:{MP1_PORT}", f"--instance-id={host.instance_id}"]
        args += [f"--state-bytes={size}", "--log-level=WARNING"]
        deadline = time.monotonic() + 60
        while True:  # Mp1 may come up a moment after the agent's gRPC server
            app = self.net.popen(
                host.node,
                [sys.executable, "-m", "mec_app_sdk.reference.cli", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            assert app.stdout is not None
            line = await asyncio.to_thread(app.stdout.readline)
            if line:
                host.app = app
                break
            await asyncio.to_thread(app.wait, 10)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.instance_id} did not start")
            await asyncio.sleep(0.5)
        needle = f"app instance {host.instance_id} is ready"
        while needle not in self._log(host):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{host.instance_id} not ready: {self._log(host)}")
            await asyncio.sleep(0.1)

    async def start_device(
        self, url: str, user: str, rate: float, out: Path
    ) -> subprocess.Popen[bytes]:
        args = ["--url", url, "--user", user, "--rate", str(rate), "--out", str(out)]
        device = self.net.popen(
            self.dev,
            [sys.executable, "-m", "bench.handover_device", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert device.stdout is not None
        if not await asyncio.to_thread(device.stdout.readline):
            raise RuntimeError("the device did not start")
        return device

    @staticmethod
    async def stop_device(device: subprocess.Popen[bytes]) -> None:
        device.terminate()
        await asyncio.to_thread(device.wait, 30)

    # -- handovers ---------------------------------------------------------------------

    async def handover(self, user: str, source: Host, target: Host) -> Timing:
        self.counter += 1
        hid = f"h{self.world}-{self.counter}"
        common: dict[str, Any] = {
            "handover_id": hid,
            "user_id": user,
            "source": source.side(),
            "target": target.side(),
            "target_agent_endpoint": target.grpc,
            "mec_assisted": True,
            "timeout_s": HANDOVER_TIMEOUT_S,
        }
        agents = self.agents
        start_ns = time.time_ns()
        t0 = time.perf_counter()
        await agents.prepare_handover(
            target.grpc, source_role=False, session_record=b"{}", **common
        )
        await agents.prepare_handover(source.grpc, source_role=True, **common)
        t1 = time.perf_counter()
        moved = await agents.transfer(source.grpc, hid)
        t2 = time.perf_counter()
        await agents.commit(target.grpc, hid, moved.version)
        t3 = time.perf_counter()
        await agents.commit(source.grpc, hid)
        t4 = time.perf_counter()
        return Timing(
            hid, source.name, target.name, start_ns, t1 - t0, t2 - t1, t3 - t2, t4 - t3, moved
        )

    async def late_releases(self) -> int:
        """Frames the delay line released more than 0.2 ms late so far (all pairs)."""
        stats = await asyncio.to_thread(self.net.stats)
        return int(stats.get("late_releases", 0))

    async def owner_record(self, user: str) -> tuple[str, dict[str, Any]] | None:
        """The instance that serves the user and its GET answer (lastSeq, applied)."""
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            for host in self.hosts:
                answer = await http.get(f"{host.http}/users/{user}")
                if answer.status_code == 200:
                    return host.name, answer.json()
        return None


# -- the measurements --------------------------------------------------------------------


def rate_for(size: int, args: argparse.Namespace) -> float:
    return float(args.rate_16m) if size >= 16 * MIB else float(args.rate)


async def moves(
    bench: Bench,
    size: int,
    mode: str,
    configs: list[tuple[float, float]],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """One world (agents in `mode`, apps of `size`): handovers at every configuration."""
    rounds = 0 if mode == "break-before-make" else None
    await bench.start_world(size, rounds)
    ha, hb = bench.hosts
    user = f"u{bench.world}"
    rate = rate_for(size, args)
    count = args.handovers_16m if size >= 16 * MIB else args.handovers
    gap_s = max(args.gap, 4.0 / rate)
    out = bench.workdir / f"device-{bench.world}.jsonl"
    timings: list[Timing] = []
    windows: list[tuple[float, float, int, int, int]] = []
    try:
        await bench.agents.admit(ha.grpc, ha.instance_id, user, b"{}")
        device = await bench.start_device(ha.http, user, rate, out)
        where = (ha, hb)
        try:
            for device_ms, hosts_ms in configs:
                await asyncio.to_thread(bench.set_delays, device_ms, hosts_ms)
                began = time.time_ns()
                late_before = await bench.late_releases()
                await asyncio.sleep(gap_s)
                for _ in range(count):
                    timing = await bench.handover(user, *where)
                    timing.labels = {"d_ms": device_ms, "h_ms": hosts_ms}
                    timings.append(timing)
                    where = (where[1], where[0])
                    await asyncio.sleep(gap_s)
                late = await bench.late_releases() - late_before
                windows.append((device_ms, hosts_ms, began, time.time_ns(), late))
                print(
                    f"  {mode} {size_label(size)} d={device_ms:g} h={hosts_ms:g}: {count} done",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            await bench.stop_device(device)
    finally:
        await bench.stop_world()
    answers = load_answers(out)
    found = transitions(answers)
    by_handover = attribute(found, [t.start_ns for t in timings])
    counted = count_updates(answers)
    rows = []
    for device_ms, hosts_ms, began, ended, late in windows:
        mine = [
            (t, tr)
            for t, tr in zip(timings, by_handover, strict=True)
            if t.labels == {"d_ms": device_ms, "h_ms": hosts_ms}
        ]
        host_url = {h.name: h.http for h in bench.hosts}
        rtt = {name: rtt_ms(answers, url, began, ended) for name, url in host_url.items()}
        seen = [(t, tr) for t, tr in mine if tr is not None]
        interruption = [tr.interruption_ms for _, tr in seen]
        noticed = [tr.refused_to_applied_ms for _, tr in seen]
        fenced = [t.moved.fenced_s * 1000 for t, _ in mine]
        limits = [(rtt[t.target] or 0.0) + t.moved.fenced_s * 1000 for t, _ in mine]
        rows.append(
            {
                "mode": mode,
                "size": size,
                "size_label": size_label(size),
                "d_ms": device_ms,
                "h_ms": hosts_ms,
                "network_floor_ms": 2 * device_ms + 2 * hosts_ms,
                "switch_late_releases": late,  # frames the delay line released > 0.2 ms late
                "device_rate_per_s": rate,
                "handovers": len(mine),
                "seen_by_device": len(seen),
                "interruption_ms": spread(interruption),
                "refused_to_applied_ms": spread(noticed),
                "device_rtt_ms": {k: None if v is None else round(v, 3) for k, v in rtt.items()},
                "fenced_ms": spread(fenced),
                "limit_ms": spread(limits),
                "fenced_bytes_p50": statistics.median(t.moved.fenced_bytes for t, _ in mine),
                "context_bytes_p50": statistics.median(t.moved.context_bytes for t, _ in mine),
                "precopy_rounds_p50": statistics.median(t.moved.precopy_rounds for t, _ in mine),
                "driver_total_ms": spread([t.total_s * 1000 for t, _ in mine]),
                "transfer_ms": spread([t.transfer_s * 1000 for t, _ in mine]),
            }
        )
    for row in rows:
        row["updates"] = counted  # the whole world's device run
    return rows


async def consecutive(
    bench: Bench, count: int, throughput_count: int, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Handovers back to back with the device writing, then without it (driver throughput)."""
    late_before = await bench.late_releases()
    await bench.start_world(4 * KIB, None)
    ha, hb = bench.hosts
    user = f"u{bench.world}"
    out = bench.workdir / f"device-{bench.world}.jsonl"
    await asyncio.to_thread(bench.set_delays, 2.0, 1.0)
    timings: list[Timing] = []
    try:
        await bench.agents.admit(ha.grpc, ha.instance_id, user, b"{}")
        device = await bench.start_device(ha.http, user, args.rate, out)
        where = (ha, hb)
        try:
            await asyncio.sleep(0.5)
            began = time.perf_counter()
            for n in range(count):
                timings.append(await bench.handover(user, *where))
                where = (where[1], where[0])
                if (n + 1) % 100 == 0:
                    print(f"  consecutive: {n + 1}/{count}", file=sys.stderr, flush=True)
            wall = time.perf_counter() - began
            await asyncio.sleep(0.5)
            late = await bench.late_releases() - late_before
        finally:
            await bench.stop_device(device)
        owner = await bench.owner_record(user)
        # Driver throughput: the same user, no device.
        quiet: list[Timing] = []
        began_quiet = time.perf_counter()
        for _ in range(throughput_count):
            quiet.append(await bench.handover(user, *where))
            where = (where[1], where[0])
        wall_quiet = time.perf_counter() - began_quiet
    finally:
        await bench.stop_world()
    answers = load_answers(out)
    counted = count_updates(answers)
    found = transitions(answers)
    applied_seqs = {a.seq for a in answers if a.applied}
    record = owner[1] if owner else {}
    check = {
        "owner": owner[0] if owner else None,
        "owner_last_seq": record.get("lastSeq"),
        "owner_applied": record.get("applied"),
        "device_last_applied_seq": max(applied_seqs) if applied_seqs else None,
        "device_applied_updates": len(applied_seqs),
    }
    check["consistent"] = (
        check["owner_last_seq"] == check["device_last_applied_seq"]
        and check["owner_applied"] == check["device_applied_updates"]
    )
    with_device = {
        "handovers": count,
        "d_ms": 2.0,
        "h_ms": 1.0,
        "size": 4 * KIB,
        "device_rate_per_s": args.rate,
        "wall_s": round(wall, 3),
        "handovers_per_s": round(count / wall, 2),
        "updates": counted,
        "owner_check": check,
        "device_moves_seen": len(found),
        "switch_late_releases": late,
        "interruption_ms": spread([t.interruption_ms for t in found]),
    }
    phases = {
        "prepare_ms": spread([t.prepare_s * 1000 for t in quiet]),
        "transfer_ms": spread([t.transfer_s * 1000 for t in quiet]),
        "commit_target_ms": spread([t.commit_target_s * 1000 for t in quiet]),
        "commit_source_ms": spread([t.commit_source_s * 1000 for t in quiet]),
        "total_ms": spread([t.total_s * 1000 for t in quiet]),
    }
    total = sum(t.total_s for t in quiet) or 1.0
    share = {
        "prepare": sum(t.prepare_s for t in quiet) / total,
        "transfer": sum(t.transfer_s for t in quiet) / total,
        "commit_target": sum(t.commit_target_s for t in quiet) / total,
        "commit_source": sum(t.commit_source_s for t in quiet) / total,
    }
    throughput = {
        "handovers": throughput_count,
        "size": 4 * KIB,
        "h_ms": 1.0,
        "wall_s": round(wall_quiet, 3),
        "handovers_per_s": round(throughput_count / wall_quiet, 2),
        "phases": phases,
        "share": {k: round(v, 3) for k, v in share.items()},
        "with_device_phases": {
            "prepare_ms": spread([t.prepare_s * 1000 for t in timings]),
            "transfer_ms": spread([t.transfer_s * 1000 for t in timings]),
            "commit_target_ms": spread([t.commit_target_s * 1000 for t in timings]),
            "commit_source_ms": spread([t.commit_source_s * 1000 for t in timings]),
        },
    }
    return with_device, throughput


# -- targets and tables ------------------------------------------------------------------


def _p(row: dict[str, Any], key: str, q: str) -> float | None:
    value = row.get(key)
    return None if value is None else float(value[q])


def targets(rows: list[dict[str, Any]], with_device: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pre = [r for r in rows if r["mode"] == "make-before-break"]
    bbm = {(r["size"], r["d_ms"], r["h_ms"]): r for r in rows if r["mode"] == "break-before-make"}
    for row in pre:
        name = f"{row['size_label']} d={row['d_ms']:g} h={row['h_ms']:g}"
        p99 = _p(row, "interruption_ms", "p99")
        limit = _p(row, "limit_ms", "p50")
        if p99 is not None and limit is not None:
            found.append(
                {
                    "target": "p99 interruption <= 2x physical limit (p50)",
                    "case": name,
                    "value": p99,
                    "bound": round(2 * limit, 3),
                    "met": p99 <= 2 * limit,
                }
            )
        noticed = _p(row, "refused_to_applied_ms", "p99")
        if noticed is not None and limit is not None:
            found.append(
                {
                    "target": "(also) p99 refused->applied <= 2x physical limit (p50)",
                    "case": name,
                    "value": noticed,
                    "bound": round(2 * limit, 3),
                    "met": noticed <= 2 * limit,
                }
            )
        if p99 is not None and row["d_ms"] == 2.0:
            found.append(
                {
                    "target": f"p99 interruption <= {INTERRUPTION_CAP_MS} ms at d=2",
                    "case": name,
                    "value": p99,
                    "bound": INTERRUPTION_CAP_MS,
                    "met": p99 <= INTERRUPTION_CAP_MS,
                }
            )
        other = bbm.get((row["size"], row["d_ms"], row["h_ms"]))
        mine = _p(row, "interruption_ms", "p50")
        theirs = None if other is None else _p(other, "interruption_ms", "p50")
        if mine is not None and theirs is not None and mine > 0:
            found.append(
                {
                    "target": ">= 10x better than break-before-make (p50)",
                    "case": name,
                    "value": round(theirs / mine, 2),
                    "bound": 10,
                    "met": theirs / mine >= 10,
                }
            )
    small = {(r["d_ms"], r["h_ms"]): r for r in pre if r["size"] == 4 * KIB}
    for row in pre:
        if row["size"] != 16 * MIB:
            continue
        base = small.get((row["d_ms"], row["h_ms"]))
        mine = _p(row, "interruption_ms", "p50")
        ref = None if base is None else _p(base, "interruption_ms", "p50")
        if mine is not None and ref:
            found.append(
                {
                    "target": "16 MiB interruption <= 1.5x 4 KiB (p50)",
                    "case": f"d={row['d_ms']:g} h={row['h_ms']:g}",
                    "value": round(mine / ref, 2),
                    "bound": 1.5,
                    "met": mine / ref <= 1.5,
                }
            )
    updates = with_device["updates"]
    found.append(
        {
            "target": "consecutive handovers: 0 lost, 0 duplicated",
            "case": f"{with_device['handovers']} handovers",
            "value": f"{updates['lost']} lost, {updates['duplicated']} duplicated",
            "bound": "0, 0",
            "met": updates["lost"] == 0
            and updates["duplicated"] == 0
            and with_device["owner_check"]["consistent"],
        }
    )
    return found


def _cell(value: dict[str, float] | None, *keys: str) -> str:
    if value is None:
        return "—"
    return " / ".join(f"{value[k]:.1f}" for k in keys)


def markdown(document: dict[str, Any]) -> str:
    lines = [
        "| mode | context | d ms | h ms | rate /s | seen | interruption p50 / p99 ms "
        "| refused→applied p50 / p99 ms | RTT to target ms | fenced p50 / p99 ms "
        "| limit p50 ms | 2d+2h ms | fenced bytes | pre-copy rounds | late frames |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in document["moves"]:
        rtts = [v for v in row["device_rtt_ms"].values() if v is not None]
        lines.append(
            f"| {row['mode']} | {row['size_label']} | {row['d_ms']:g} | {row['h_ms']:g} "
            f"| {row['device_rate_per_s']:g} | {row['seen_by_device']}/{row['handovers']} "
            f"| {_cell(row['interruption_ms'], 'p50', 'p99')} "
            f"| {_cell(row['refused_to_applied_ms'], 'p50', 'p99')} "
            f"| {statistics.median(rtts) if rtts else float('nan'):.1f} "
            f"| {_cell(row['fenced_ms'], 'p50', 'p99')} | {_cell(row['limit_ms'], 'p50')} "
            f"| {row['network_floor_ms']:g} | {row['fenced_bytes_p50']:.0f} "
            f"| {row['precopy_rounds_p50']:g} | {row['switch_late_releases']} |"
        )
    consecutive_row = document["consecutive"]
    updates = consecutive_row["updates"]
    check = consecutive_row["owner_check"]
    lines += [
        "",
        "| handovers | device rate /s | handovers/s | updates | lost | duplicated "
        "| owner's record = device's count | interruption p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---|---:|",
        f"| {consecutive_row['handovers']} | {consecutive_row['device_rate_per_s']:g} "
        f"| {consecutive_row['handovers_per_s']:g} | {updates['updates']} | {updates['lost']} "
        f"| {updates['duplicated']} | {'yes' if check['consistent'] else 'NO'} "
        f"(lastSeq {check['owner_last_seq']}, applied {check['owner_applied']}) "
        f"| {_cell(consecutive_row['interruption_ms'], 'p50', 'p99')} |",
    ]
    throughput = document["throughput"]
    phases = throughput["phases"]
    share = throughput["share"]
    lines += [
        "",
        "| handovers | handovers/s | prepare (both) p50 ms | transfer p50 ms "
        "| commit target p50 ms | commit source p50 ms | total p50 / p99 ms |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {throughput['handovers']} | {throughput['handovers_per_s']:g} "
        f"| {_cell(phases['prepare_ms'], 'p50')} ({share['prepare']:.0%}) "
        f"| {_cell(phases['transfer_ms'], 'p50')} ({share['transfer']:.0%}) "
        f"| {_cell(phases['commit_target_ms'], 'p50')} ({share['commit_target']:.0%}) "
        f"| {_cell(phases['commit_source_ms'], 'p50')} ({share['commit_source']:.0%}) "
        f"| {_cell(phases['total_ms'], 'p50', 'p99')} |",
        "",
        "| target | case | value | bound | met |",
        "|---|---|---:|---:|---|",
    ]
    for target in document["targets"]:
        lines.append(
            f"| {target['target']} | {target['case']} | {target['value']} | {target['bound']} "
            f"| {'yes' if target['met'] else 'no'} |"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = [int(s) for s in args.sizes.split(",")]
    configs = [
        (float(d), float(h))
        for d in args.device_delays.split(",")
        for h in args.host_delays.split(",")
    ]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch, Network(name_prefix="bho") as net:
        bench = Bench(net, Path(scratch))
        try:
            with_device, throughput = await consecutive(
                bench, args.consecutive, args.throughput, args
            )
            print(
                f"  consecutive: {with_device['updates']['lost']} lost, "
                f"{with_device['updates']['duplicated']} duplicated",
                file=sys.stderr,
                flush=True,
            )
            for mode in ("make-before-break", "break-before-make"):
                for size in sizes:
                    rows += await moves(bench, size, mode, configs, args)
            stats = net.stats()
        finally:
            with contextlib.suppress(Exception):
                await bench.stop_world()
    document: dict[str, Any] = {
        "moves": rows,
        "consecutive": with_device,
        "throughput": throughput,
        "switch": {k: stats.get(k) for k in ("realtime", "lead_us", "late_releases")},
    }
    document["targets"] = targets(rows, with_device)
    return document


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few handovers: a smoke run")
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="bytes")
    parser.add_argument("--device-delays", default="2,5", help="device-host one way, ms")
    parser.add_argument("--host-delays", default="1,5", help="host-host one way, ms")
    parser.add_argument("--handovers", type=int, default=30, help="per configuration")
    parser.add_argument("--handovers-16m", type=int, default=10, help="per configuration, 16 MiB")
    parser.add_argument("--rate", type=float, default=100.0, help="device updates per second")
    parser.add_argument(
        "--rate-16m",
        type=float,
        default=2.0,
        help="device updates per second with 16 MiB contexts (an update costs the app ~0.35 s)",
    )
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between handovers")
    parser.add_argument("--consecutive", type=int, default=1000, help="back to back, device on")
    parser.add_argument("--throughput", type=int, default=200, help="back to back, no device")
    args = parser.parse_args()
    if args.quick:
        args.handovers, args.handovers_16m = min(args.handovers, 3), min(args.handovers_16m, 2)
        args.consecutive, args.throughput = min(args.consecutive, 50), min(args.throughput, 30)
    load_before = Path("/proc/loadavg").read_text().strip()
    started = time.time()
    document = asyncio.run(run(args))
    document = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "command": " ".join(["python -m bench.handover", shlex.join(sys.argv[1:])]).strip(),
        "load_average": {"start": load_before, "end": Path("/proc/loadavg").read_text().strip()},
        "duration_s": round(time.time() - started, 1),
        "settings": dict(vars(args)),
        "setup": {
            "grpc": "plaintext (agents --insecure)",
            "journal": "agents --state-dir (fsynced journal) in a temporary directory",
            "orchestrator": "none: handovers driven directly with AgentSessions",
        },
        **document,
    }
    path = save("handover", document, started)
    print(json.dumps({k: document[k] for k in ("machine", "date", "command", "load_average")}))
    print(markdown(document))
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"\nwritten to {shown}")


if __name__ == "__main__":
    main()
