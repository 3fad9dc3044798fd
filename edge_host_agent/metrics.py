"""The agent's own Prometheus metrics (served by metrics_http when `metrics_listen` is set).

An edge site's operators watch the agent where it runs: whether it has a session with the
orchestrator, how its probes fare per access point (answered, lost) and the RTTs it measures,
and what became of its samples (sent, dropped, summarised in gaps). Probe outcomes are counted as
they happen; the link's own counters are read at scrape time, so the link needs no knowledge of
Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from edge_host_agent.prober import LossHandler, ProbeSample, SampleHandler

RTT_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


class LinkState(Protocol):
    """What the metrics read from the orchestrator link at scrape time."""

    session_id: str | None
    orchestrator: str | None
    samples_sent: int
    samples_dropped: int
    gap_summaries_sent: int


class _LinkCollector(Collector):
    def __init__(self, link: LinkState) -> None:
        self._link = link

    def collect(self) -> Iterator[Metric]:
        link = self._link
        up = GaugeMetricFamily(
            "mec_edge_agent_session_up",
            "1 while the agent has a live session with the orchestrator, else 0.",
            labels=["orchestrator"],
        )
        up.add_metric([link.orchestrator or ""], 1.0 if link.session_id else 0.0)
        yield up
        for name, help_text, value in (
            ("samples_sent", "Latency samples sent to the orchestrator.", link.samples_sent),
            (
                "samples_dropped",
                "Samples dropped because the send queue was full.",
                link.samples_dropped,
            ),
            (
                "gap_summaries_sent",
                "Summaries sent of periods measured without a session.",
                link.gap_summaries_sent,
            ),
        ):
            yield CounterMetricFamily(f"mec_edge_agent_{name}", help_text, value=value)


class AgentProbeMetrics:
    """Probe outcomes per access point and the RTTs measured, in one collector registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.replies = Counter(
            "mec_edge_agent_probe_replies",
            "Probe replies received, by access point.",
            ["access_point"],
            registry=self.registry,
        )
        self.lost = Counter(
            "mec_edge_agent_probes_lost",
            "Probes without a reply within the timeout, by access point.",
            ["access_point"],
            registry=self.registry,
        )
        self.rtt = Histogram(
            "mec_edge_agent_rtt_seconds",
            "Round-trip times measured to the access points (all of them).",
            buckets=RTT_BUCKETS_S,
            registry=self.registry,
        )

    def watch_link(self, link: LinkState) -> None:
        self.registry.register(_LinkCollector(link))

    def counting_samples(self, forward: SampleHandler) -> SampleHandler:
        def on_sample(sample: ProbeSample) -> None:
            self.replies.labels(sample.access_point_id).inc()
            self.rtt.observe(sample.rtt_ms / 1000.0)
            forward(sample)

        return on_sample

    def counting_losses(self, forward: LossHandler) -> LossHandler:
        def on_lost(access_point_id: str, count: int) -> None:
            self.lost.labels(access_point_id).inc(count)
            forward(access_point_id, count)

        return on_lost

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
