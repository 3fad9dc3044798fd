"""Report ingestion at the orchestrator: RTT samples per second through real gRPC over mTLS.

The agent server runs in this process, pinned to one core; a load generator process (pinned to
another core when there is one) registers several hosts with their own certificates and streams
the same prepared batch over and over on one report stream per host. The figure is samples
recorded in the latency sink per second of wall time and per second of the server process's CPU
time (all its threads, gRPC's included).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
from mec.agent.v1 import latency_pb2, latency_pb2_grpc, registry_pb2, registry_pb2_grpc
from prometheus_client import CollectorRegistry

from mec_common.tls import AgentPki, write_agent_pki
from mec_orchestrator.adapters.agent_link import (
    AgentMetrics,
    AgentServer,
    AgentServerSettings,
    MatrixSink,
)
from mec_orchestrator.decisions.latency import LatencyMatrix
from mec_orchestrator.decisions.users import PlacementEngine

ACCESS_POINTS = 125
SERVER_CORE = 0
LOAD_CORE = 1


def host_names(count: int) -> tuple[str, ...]:
    return tuple(f"bench-{i}" for i in range(count))


def access_point_ids() -> list[str]:
    return [f"ap-{i:03d}" for i in range(ACCESS_POINTS)]


def pin(core: int) -> None:
    cores = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core} if core in cores else cores)


def prepared_batch(host: str, session: str, size: int) -> latency_pb2.ReportLatencyRequest:
    now = time.time_ns()
    request = latency_pb2.ReportLatencyRequest(host_name=host, session_id=session)
    request.batch.sent_unix_nanos = now
    ids = access_point_ids()
    for i in range(size):
        request.batch.samples.add(
            access_point_id=ids[i % len(ids)],
            sequence=i // len(ids),
            rtt_ms=1.0 + (i % 17) * 0.125,
            sent_unix_nanos=now - 3_000_000,
            received_unix_nanos=now - 1_000_000,
            reflector_received_unix_nanos=now - 2_000_000,
            reflector_sent_unix_nanos=now - 1_990_000,
        )
    return request


async def _stream_host(port: int, pki: AgentPki, host: str, batch: int, deadline: float) -> int:
    files = pki.edge_host(host)
    ca, chain, key = files.read()
    credentials = grpc.ssl_channel_credentials(ca, key, chain)
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        registry = registry_pb2_grpc.AgentRegistryServiceStub(channel)
        registered = await registry.Register(
            registry_pb2.RegisterRequest(
                host_name=host,
                access_points=[
                    registry_pb2.AccessPoint(access_point_id=ap, reflector_address="127.0.0.1:9")
                    for ap in access_point_ids()
                ],
            )
        )
        request = prepared_batch(host, registered.session_id, batch)
        call = latency_pb2_grpc.LatencyReportServiceStub(channel).ReportLatency()
        sent = 0
        while time.monotonic() < deadline:
            await call.write(request)
            sent += batch
        await call.done_writing()
        response = await call
        assert response.accepted_sample_count == sent
        return sent


async def _load(port: int, pki_dir: Path, hosts: int, batch: int, seconds: float) -> None:
    pki = AgentPki(pki_dir)
    deadline = time.monotonic() + seconds
    sent = await asyncio.gather(
        *(_stream_host(port, pki, h, batch, deadline) for h in host_names(hosts))
    )
    print(sum(sent))


def load_main(argv: list[str]) -> None:
    """The load generator process (started by `measure`)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pki", type=Path, required=True)
    parser.add_argument("--hosts", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    pin(LOAD_CORE)
    asyncio.run(_load(args.port, args.pki, args.hosts, args.batch, args.seconds))


async def measure(
    pki_dir: Path, *, hosts: int, batch: int, seconds: float, sink: str
) -> dict[str, Any]:
    """Serve, run the load generator, and count what arrived in the measured window."""
    pin(SERVER_CORE)
    pki = write_agent_pki(pki_dir, host_names(hosts))
    files = pki.orchestrator
    settings = AgentServerSettings(
        listen="127.0.0.1:0",
        ca_cert=files.ca_cert,
        cert=files.cert,
        key=files.key,
        heartbeat_interval_s=60,
        lost_after_s=600,
    )
    if sink == "engine":
        engine = PlacementEngine()
        for host in host_names(hosts):
            engine.add_host(host, capacity=1000)
        latency_sink: Any = engine
    else:
        latency_sink = MatrixSink(LatencyMatrix())
    server = AgentServer(settings, latency_sink, metrics=AgentMetrics(CollectorRegistry()))
    port = await server.start()
    warmup = 2.0
    load = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.agents_ingest",
        "--port",
        str(port),
        "--pki",
        str(pki_dir),
        "--hosts",
        str(hosts),
        "--batch",
        str(batch),
        "--seconds",
        str(seconds + warmup + 1.0),
        stdout=subprocess.PIPE,
    )

    def ingested() -> int:
        return sum(r.samples_ingested for r in server.registry.records())

    await asyncio.sleep(warmup)
    count0, cpu0, wall0 = ingested(), time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    count1, cpu1, wall1 = ingested(), time.process_time(), time.monotonic()
    await load.communicate()
    await server.stop(0)
    samples = count1 - count0
    return {
        "sink": sink,
        "hosts": hosts,
        "batch_samples": batch,
        "seconds": round(wall1 - wall0, 3),
        "samples": samples,
        "samples_per_second": round(samples / (wall1 - wall0)),
        "server_cpu_fraction": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "samples_per_cpu_second": round(samples / max(cpu1 - cpu0, 1e-9)),
    }


if __name__ == "__main__":
    load_main(sys.argv[1:])
