"""Agent footprint: CPU and memory of one `edge-host-agent run` probing many access points.

One reflector process answers on 125 UDP ports of 127.0.0.1 (standing for 125 access points),
the agent probes each at 20 Hz (2,500 probes/s) and streams the samples over mTLS to an agent
server in this process. CPU time and resident memory of the agent process are read from /proc
over the measured window.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from mec_common.tls import write_agent_pki
from mec_orchestrator.adapters.agent_link import AgentMetrics, AgentServer, AgentServerSettings

HOST = "bench-agent"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (resident now) and VmHWM (peak resident) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


async def _spawn(*args: str, stdout: int | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "edge_host_agent",
        *args,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GRPC_VERBOSITY": "ERROR"},
    )


async def measure(
    workdir: Path, *, access_points: int, rate_hz: float, seconds: float
) -> dict[str, Any]:
    pki = write_agent_pki(workdir / "pki", (HOST,))
    files = pki.orchestrator
    server = AgentServer(
        AgentServerSettings(
            listen="127.0.0.1:0", ca_cert=files.ca_cert, cert=files.cert, key=files.key
        ),
        metrics=AgentMetrics(CollectorRegistry()),
    )
    port = await server.start()
    listen = [arg for _ in range(access_points) for arg in ("--listen", "127.0.0.1:0")]
    reflector = await _spawn("reflector", *listen, stdout=subprocess.PIPE)
    assert reflector.stdout is not None
    addresses = json.loads(await reflector.stdout.readline())["listening"]
    ap_file = workdir / "access-points.json"
    ap_file.write_text(
        json.dumps([{"id": f"ap-{i:03d}", "reflector": a} for i, a in enumerate(addresses)])
    )
    agent_files = pki.edge_host(HOST)
    agent = await _spawn(
        "run",
        "--host",
        HOST,
        "--orchestrator",
        f"127.0.0.1:{port}",
        "--listen",
        "127.0.0.1:0",
        "--ca-cert",
        str(agent_files.ca_cert),
        "--cert",
        str(agent_files.cert),
        "--key",
        str(agent_files.key),
        "--access-points-file",
        str(ap_file),
        "--probe-rate",
        str(rate_hz),
    )
    try:
        events = server.registry.subscribe()
        await asyncio.wait_for(events.get(), 30)  # the agent registered
        await asyncio.sleep(5.0)  # warm-up: every socket open, steady state

        def ingested() -> int:
            record = server.registry.get(HOST)
            return 0 if record is None else record.samples_ingested

        agent_cpu0, reflector_cpu0 = cpu_seconds(agent.pid), cpu_seconds(reflector.pid)
        count0, wall0 = ingested(), time.monotonic()
        rss: list[int] = []
        while time.monotonic() - wall0 < seconds:
            await asyncio.sleep(1.0)
            rss.append(memory_kib(agent.pid)["VmRSS"])
        agent_cpu1, reflector_cpu1 = cpu_seconds(agent.pid), cpu_seconds(reflector.pid)
        count1, wall1 = ingested(), time.monotonic()
        peak = memory_kib(agent.pid)["VmHWM"]
        elapsed = wall1 - wall0
        now_s = time.monotonic()
        p50s = [
            e.p50_ms
            for ap in server.sink.matrix.access_points_of(HOST)
            if (e := server.sink.matrix.estimate(ap, HOST, now_s)) is not None
        ]
    finally:
        for process in (agent, reflector):
            process.terminate()
            await process.wait()
        await server.stop(0)
    return {
        "access_points": access_points,
        "probe_rate_hz": rate_hz,
        "seconds": round(elapsed, 2),
        "agent_cpu_fraction_of_one_core": round((agent_cpu1 - agent_cpu0) / elapsed, 4),
        "agent_rss_mib_median": round(statistics.median(rss) / 1024, 1),
        "agent_rss_mib_peak": round(peak / 1024, 1),
        "reflector_cpu_fraction_of_one_core": round((reflector_cpu1 - reflector_cpu0) / elapsed, 4),
        "samples_per_second_at_orchestrator": round((count1 - count0) / elapsed, 1),
        "expected_samples_per_second": access_points * rate_hz,
        "access_points_measured": len(p50s),
        "loopback_rtt_p50_ms_median_over_access_points": round(statistics.median(p50s), 3)
        if p50s
        else None,
    }
