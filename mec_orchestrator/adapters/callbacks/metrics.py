"""Prometheus metrics of notification delivery (prefix `mec_`, base units).

One object bound to a collector registry, so tests can run several deliveries in one process
without their series colliding; the orchestrator uses the default registry.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

DELIVERY_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class CallbackMetrics:
    """Every metric the callback delivery exports."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.registry = registry
        self.notifications = Counter(
            "mec_notifications",
            "Notifications by API and outcome: delivered (2xx), rejected (another 4xx, 3xx), "
            "dropped_full (the subscriber's queue or the subscriber table was full), "
            "dropped_expired (the subscription expired first), gave_up (retries exhausted, or "
            "the orchestrator stopped).",
            ["api", "result"],
            registry=registry,
        )
        self.backlog = Gauge(
            "mec_notification_backlog",
            "Notifications accepted and not yet resolved (queued or being sent), by API.",
            ["api"],
            registry=registry,
        )
        self.delivery_seconds = Histogram(
            "mec_notification_delivery_seconds",
            "Time from a notification's submission to the subscriber's 2xx answer, by API.",
            ["api"],
            buckets=DELIVERY_SECONDS_BUCKETS,
            registry=registry,
        )

    def prime(self, apis: Iterable[str], results: Iterable[str]) -> None:
        """Create every (api, result) series at zero, so rates read 0 before the first event."""
        kept = tuple(results)
        for api in apis:
            self.backlog.labels(api)
            for result in kept:
                self.notifications.labels(api, result)

    def sample(self, name: str, **labels: str) -> float:
        """The current value of one exported series (0 when it has no value yet)."""
        return self.registry.get_sample_value(name, labels) or 0.0


@cache
def default_metrics() -> CallbackMetrics:
    """The process's metrics on the default registry (created once)."""
    return CallbackMetrics()
