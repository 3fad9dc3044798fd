"""Prometheus metrics of the orchestrator's agent link (prefix `mec_`, base units).

They live in one object bound to a collector registry so that a process can run several agent
servers (tests do) without their series colliding; the orchestrator uses the default registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

BATCH_SIZE_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384)
INGEST_SECONDS_BUCKETS = (1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1)


class AgentMetrics:
    """Every metric the agent server exports."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.agents_connected = Gauge(
            "mec_agents_connected",
            "Edge-host agents registered and heartbeating.",
            registry=registry,
        )
        self.registrations = Counter(
            "mec_agent_registrations", "Agent registrations accepted.", registry=registry
        )
        self.heartbeats = Counter(
            "mec_agent_heartbeats", "Agent heartbeats of live sessions.", registry=registry
        )
        self.agents_lost = Counter(
            "mec_agents_lost",
            "Agents declared lost after missing heartbeats for the timeout.",
            registry=registry,
        )
        self.report_streams = Gauge(
            "mec_agent_report_streams", "Latency report streams open.", registry=registry
        )
        self.samples_ingested = Counter(
            "mec_agent_latency_samples_ingested",
            "RTT samples from agents recorded in the latency matrix.",
            registry=registry,
        )
        self.batch_samples = Histogram(
            "mec_agent_latency_report_batch_samples",
            "Samples per latency report batch.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=registry,
        )
        self.batch_ingest_seconds = Histogram(
            "mec_agent_latency_report_batch_ingest_seconds",
            "Time to check and record one latency report batch.",
            buckets=INGEST_SECONDS_BUCKETS,
            registry=registry,
        )
        self.gap_summaries = Counter(
            "mec_agent_latency_gap_summaries",
            "Summaries of periods in which agents could not report.",
            registry=registry,
        )
        self.instance_reports = Counter(
            "mec_agent_instance_reports",
            "Reports of the app instances on agents' hosts accepted (repeats included).",
            registry=registry,
        )
        self.refused = Counter(
            "mec_agent_requests_refused",
            "Agent requests refused, by method and gRPC status code.",
            ["method", "code"],
            registry=registry,
        )
        self.unreadable = Counter(
            "mec_agent_requests_unreadable",
            "Agent requests refused before a service read them (also counted as refused): "
            "reason malformed (not a protobuf of the request type) or incomplete (a unary "
            "request not complete within the request timeout).",
            ["method", "reason"],
            registry=registry,
        )

        self._hosts: Callable[[], Iterable[tuple[str, bool]]] = tuple
        registry.register(_HostsCollector(self._known_hosts))

    def count_connected_with(self, count: Callable[[], int]) -> None:
        self.agents_connected.set_function(count)

    def watch_hosts(self, hosts: Callable[[], Iterable[tuple[str, bool]]]) -> None:
        """Read (host, connected) of every host the registry knows at each scrape."""
        self._hosts = hosts

    def _known_hosts(self) -> Iterable[tuple[str, bool]]:
        return self._hosts()


class _HostsCollector(Collector):
    """`mec_agent_connected{host}`, read from the registry at scrape time."""

    def __init__(self, hosts: Callable[[], Iterable[tuple[str, bool]]]) -> None:
        self._hosts = hosts

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "mec_agent_connected",
            "1 while the host's agent is registered and heartbeating; 0 once it was declared "
            "lost, until it registers again (hosts this replica never heard of are absent).",
            labels=["host"],
        )
        for host, connected in self._hosts():
            family.add_metric([host], 1.0 if connected else 0.0)
        yield family


@cache
def default_metrics() -> AgentMetrics:
    """The process's metrics on the default registry (created once)."""
    return AgentMetrics()


def sample_value(metrics: AgentMetrics, name: str, **labels: str) -> float:
    """The current value of one exported series (0 when it has no value yet)."""
    return metrics.registry.get_sample_value(name, labels) or 0.0
