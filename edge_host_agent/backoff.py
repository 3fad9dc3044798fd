"""Exponential backoff with jitter between attempts to reach the orchestrator.

After a failure the agent waits initial, then initial x multiplier, ... up to maximum, each delay
spread by +-jitter so that many agents cut off together do not reconnect in lockstep. A
successful registration resets it.
"""

from __future__ import annotations

import random


class Backoff:
    def __init__(
        self,
        initial_s: float,
        maximum_s: float,
        multiplier: float = 2.0,
        jitter: float = 0.2,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < initial_s <= maximum_s:
            raise ValueError(f"need 0 < initial_s <= maximum_s, got {initial_s}, {maximum_s}")
        self.initial_s = initial_s
        self.maximum_s = maximum_s
        self.multiplier = multiplier
        self.jitter = jitter
        self._rng = rng or random.Random()  # noqa: S311 (spreading retries, not security)
        self.attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call counts one failed attempt."""
        base = min(self.maximum_s, self.initial_s * self.multiplier ** min(self.attempt, 64))
        self.attempt += 1
        spread = 1.0 + self.jitter * self._rng.uniform(-1.0, 1.0)
        return min(self.maximum_s, base * spread)

    def reset(self) -> None:
        self.attempt = 0
