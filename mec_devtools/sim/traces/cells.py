"""Which cell serves a moving device: the strongest site, changed as a radio changes it.

Received power falls with distance by a log-distance path loss (exponent 3.5, an urban
macro/micro cell; COST 231 Hata is 35 dB a decade at these heights), so "strongest" is
"nearest" and a margin in dB is a ratio of distances: a 3 dB margin at exponent 3.5 means the
neighbour must be 1.22 times nearer than the serving site. As LTE/NR's A3 event does, a
neighbour takes over when it has been better than the serving cell by the margin for the whole
time-to-trigger; otherwise the device stays, so it does not ping-pong at a cell edge. There is
no shadowing or fading: cells are decided by geometry alone (docs/policies.md, caveats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

MIN_DISTANCE_M = 10.0
"""Closer than this the path loss is taken as at 10 m (no log of zero under the mast)."""


@dataclass(frozen=True, slots=True)
class HandoverRule:
    """The A3-like rule: margin (dB), time-to-trigger (s), path-loss exponent."""

    margin_db: float = 3.0
    time_to_trigger_s: float = 1.0
    path_loss_exponent: float = 3.5

    def __post_init__(self) -> None:
        for label, value in (
            ("margin_db", self.margin_db),
            ("time_to_trigger_s", self.time_to_trigger_s),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"{label} must be finite and non-negative, got {value}")
        if not (math.isfinite(self.path_loss_exponent) and self.path_loss_exponent > 0.0):
            raise ValueError(f"path_loss_exponent must be positive, got {self.path_loss_exponent}")

    @property
    def squared_distance_ratio(self) -> float:
        """Serving d^2 / neighbour d^2 above which the neighbour is better by the margin."""
        return float(10.0 ** (2.0 * self.margin_db / (10.0 * self.path_loss_exponent)))


def serving_cells(
    x_m: NDArray[np.floating],
    y_m: NDArray[np.floating],
    site_x_m: NDArray[np.floating],
    site_y_m: NDArray[np.floating],
    step_s: float,
    *,
    rule: HandoverRule | None = None,
) -> NDArray[np.int16]:
    """The serving site's index for each sample: x_m, y_m are (samples, devices) positions.

    At the first sample each device is served by its strongest site. Then a neighbour takes
    over once it has been the strongest and better than the serving site by the margin at
    every sample for at least the time-to-trigger (with samples step_s apart).
    """
    rule = rule or HandoverRule()
    if x_m.shape != y_m.shape or x_m.ndim != 2:
        raise ValueError(f"positions must be two (samples, devices) arrays, got {x_m.shape}")
    if site_x_m.shape != site_y_m.shape or site_x_m.ndim != 1 or site_x_m.size == 0:
        raise ValueError("sites must be two equal, non-empty one-dimensional arrays")
    if len(site_x_m) > np.iinfo(np.int16).max:
        raise ValueError(f"at most {np.iinfo(np.int16).max} sites, got {len(site_x_m)}")
    if not (math.isfinite(step_s) and step_s > 0.0):
        raise ValueError(f"step_s must be positive, got {step_s}")
    samples, devices = x_m.shape
    # Samples the condition must hold for, the first included: TTT 0 -> 1, 1 s at 1 s -> 2.
    needed = math.floor(rule.time_to_trigger_s / step_s + 1e-9) + 1
    ratio = rule.squared_distance_ratio
    floor2 = MIN_DISTANCE_M**2
    sx = np.asarray(site_x_m, dtype=np.float64)[None, :]
    sy = np.asarray(site_y_m, dtype=np.float64)[None, :]
    cells = np.empty((samples, devices), dtype=np.int16)
    serving = np.zeros(devices, dtype=np.int64)
    candidate = np.full(devices, -1, dtype=np.int64)
    held = np.zeros(devices, dtype=np.int64)
    rows = np.arange(devices)
    for t in range(samples):
        d2 = (x_m[t][:, None] - sx) ** 2 + (y_m[t][:, None] - sy) ** 2
        np.maximum(d2, floor2, out=d2)
        best = d2.argmin(axis=1)
        if t == 0:
            serving = best.copy()
        else:
            better = d2[rows, serving] > ratio * d2[rows, best]
            same = better & (best == candidate)
            held = np.where(same, held + 1, np.where(better, 1, 0))
            candidate = np.where(better, best, -1)
            switch = held >= needed
            serving = np.where(switch, candidate, serving)
            held = np.where(switch, 0, held)
            candidate = np.where(switch, -1, candidate)
        cells[t] = serving
    return cells
