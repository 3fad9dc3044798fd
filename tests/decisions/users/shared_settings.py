"""Hypothesis settings for the placement properties.

The suite runs on small shared machines next to other work: timing-based health checks and
deadlines would fail for reasons that have nothing to do with the code, so they are off here;
the number of examples is what these tests are about.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings


def thorough(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )
