"""Link parameters of one (ingress port, egress port) pair and how a frame's fate is drawn.

Delay is the nominal one-way delay; jitter adds a uniform offset in [-jitter, +jitter] (clipped so
the delay never goes below zero); loss is the probability that a frame is dropped. Drawing is
separate from the switch loop so it can be tested with a seeded generator.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

NS_PER_MS = 1_000_000
MAX_DELAY_MS = 60_000.0


@dataclass(frozen=True, slots=True)
class LinkParams:
    delay_ns: int = 0
    jitter_ns: int = 0
    loss: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.delay_ns <= MAX_DELAY_MS * NS_PER_MS:
            raise ValueError(f"delay must be within 0..{MAX_DELAY_MS} ms")
        if not 0 <= self.jitter_ns <= MAX_DELAY_MS * NS_PER_MS:
            raise ValueError(f"jitter must be within 0..{MAX_DELAY_MS} ms")
        if not (math.isfinite(self.loss) and 0.0 <= self.loss <= 1.0):
            raise ValueError("loss must be a probability within 0..1")

    @classmethod
    def from_ms(cls, delay_ms: float, jitter_ms: float = 0.0, loss: float = 0.0) -> LinkParams:
        for label, value in (("delay", delay_ms), ("jitter", jitter_ms)):
            if not math.isfinite(value):
                raise ValueError(f"{label} must be a finite number of milliseconds")
            if not 0 <= value <= MAX_DELAY_MS:
                raise ValueError(f"{label} must be within 0..{MAX_DELAY_MS} ms")
        return cls(round(delay_ms * NS_PER_MS), round(jitter_ms * NS_PER_MS), float(loss))

    def as_ms(self) -> dict[str, float]:
        return {
            "delay_ms": self.delay_ns / NS_PER_MS,
            "jitter_ms": self.jitter_ns / NS_PER_MS,
            "loss": self.loss,
        }

    def draw_lost(self, rng: random.Random) -> bool:
        return self.loss > 0.0 and rng.random() < self.loss

    def draw_delay_ns(self, rng: random.Random) -> int:
        if self.jitter_ns == 0:
            return self.delay_ns
        offset = rng.uniform(-self.jitter_ns, self.jitter_ns)
        return max(0, round(self.delay_ns + offset))
