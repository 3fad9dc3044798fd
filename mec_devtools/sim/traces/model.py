"""A set of device traces: positions every step, the serving cell of each sample, and I/O.

One `TraceSet` holds every device of one generated run: positions in the Hoddle Grid's metres
(`frame`), the serving site of each sample (an index into `site_ids`, the EUA sites), each
device's kind (pedestrian or vehicle) and how it was made. It is stored as one compressed
`.npz` (positions in decimetres, cells as site indices); `samples` and `cell_changes` give a
device's time series as the demo's emulated devices and the policy benchmark consume it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mec_devtools.sim.traces.frame import to_latlon

FORMAT_VERSION = 1
_DM = 10.0  # positions are stored in decimetres


class DeviceKind(IntEnum):
    PEDESTRIAN = 0
    VEHICLE = 1


@dataclass(frozen=True, slots=True)
class TraceSample:
    """Where a device is at t_s and which site serves it."""

    t_s: float
    latitude: float
    longitude: float
    cell: str


@dataclass(frozen=True, slots=True)
class CellChange:
    """At t_s the device's serving cell became `cell` (from `previous`; None at the start)."""

    t_s: float
    device: int
    cell: str
    previous: str | None


@dataclass(frozen=True, eq=False)
class TraceSet:
    """Every device of one run: (samples, devices) arrays sampled every step_s from t = 0."""

    name: str
    step_s: float
    site_ids: tuple[str, ...]
    kinds: NDArray[np.uint8]
    x_m: NDArray[np.float64]
    y_m: NDArray[np.float64]
    cells: NDArray[np.int16]
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = self.x_m.shape
        if len(shape) != 2 or self.y_m.shape != shape or self.cells.shape != shape:
            raise ValueError(
                f"trace {self.name}: x, y and cells must share a (samples, devices) shape,"
                f" got {self.x_m.shape}, {self.y_m.shape}, {self.cells.shape}"
            )
        if self.kinds.shape != (shape[1],):
            raise ValueError(f"trace {self.name}: {shape[1]} devices but {len(self.kinds)} kinds")
        if shape[0] and (self.cells.min() < 0 or self.cells.max() >= len(self.site_ids)):
            raise ValueError(
                f"trace {self.name}: a cell index is outside the {len(self.site_ids)} sites"
            )
        if not self.step_s > 0:
            raise ValueError(f"trace {self.name}: step_s must be positive, got {self.step_s}")

    @property
    def devices(self) -> int:
        return int(self.x_m.shape[1])

    @property
    def samples(self) -> int:
        return int(self.x_m.shape[0])

    @property
    def duration_s(self) -> float:
        return self.samples * self.step_s

    def kind(self, device: int) -> DeviceKind:
        return DeviceKind(int(self.kinds[device]))

    def positions(self, device: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(latitudes, longitudes) of the device, one per sample."""
        self._check(device)
        return to_latlon(self.x_m[:, device], self.y_m[:, device])

    def series(self, device: int) -> Iterator[TraceSample]:
        """The device's (t, lat, lon, serving cell) time series."""
        lat, lon = self.positions(device)
        cells = self.cells[:, device]
        for i in range(self.samples):
            yield TraceSample(
                i * self.step_s, float(lat[i]), float(lon[i]), self.site_ids[int(cells[i])]
            )

    def cell_changes(self, device: int) -> Iterator[CellChange]:
        """The device's serving cell at t = 0, then each change, in time order."""
        self._check(device)
        cells = self.cells[:, device]
        if not len(cells):
            return
        yield CellChange(0.0, device, self.site_ids[int(cells[0])], None)
        for i in np.flatnonzero(cells[1:] != cells[:-1]) + 1:
            yield CellChange(
                float(i) * self.step_s,
                device,
                self.site_ids[int(cells[i])],
                self.site_ids[int(cells[i - 1])],
            )

    def all_cell_changes(self) -> list[CellChange]:
        """Every device's changes (the starts first), ordered by time, then device."""
        changes = [c for d in range(self.devices) for c in self.cell_changes(d)]
        changes.sort(key=lambda c: (c.t_s, c.device))
        return changes

    def _check(self, device: int) -> None:
        if not 0 <= device < self.devices:
            raise IndexError(f"trace {self.name} has devices 0..{self.devices - 1}, not {device}")

    # -- storage ----------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        x_dm = np.rint(self.x_m * _DM).astype(np.int32)
        y_dm = np.rint(self.y_m * _DM).astype(np.int32)
        cells = self.cells.astype(np.uint8 if len(self.site_ids) <= 255 else np.int16)
        meta = {**self.meta, "format": FORMAT_VERSION, "name": self.name, "step_s": self.step_s}
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                # Along time, positions change by a few decimetres a step: deltas compress.
                dx=np.diff(x_dm, axis=0, prepend=0).astype(np.int32),
                dy=np.diff(y_dm, axis=0, prepend=0).astype(np.int32),
                cells=cells,
                kinds=self.kinds.astype(np.uint8),
                site_ids=np.array(self.site_ids),
                meta=np.array(json.dumps(meta, sort_keys=True)),
            )


def load_traces(path: Path) -> TraceSet:
    """A trace set saved by `TraceSet.save`."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != FORMAT_VERSION:
                raise ValueError(
                    f"{path}: trace format {meta.get('format')!r}, expected {FORMAT_VERSION}"
                )
            x_m = np.cumsum(data["dx"], axis=0, dtype=np.int64) / _DM
            y_m = np.cumsum(data["dy"], axis=0, dtype=np.int64) / _DM
            return TraceSet(
                name=str(meta["name"]),
                step_s=float(meta["step_s"]),
                site_ids=tuple(str(s) for s in data["site_ids"]),
                kinds=data["kinds"].astype(np.uint8),
                x_m=x_m,
                y_m=y_m,
                cells=data["cells"].astype(np.int16),
                meta=meta,
            )
    except KeyError as missing:
        raise ValueError(f"{path}: not a trace file (no {missing})") from None


def shipped_trace_path(name: str) -> Path:
    """The path of a trace shipped with the package (datasets/traces/<name>.npz)."""
    traversable = resources.files("mec_devtools.sim").joinpath("datasets", "traces", f"{name}.npz")
    path = Path(str(traversable))
    if not path.is_file():
        shipped = sorted(p.stem for p in path.parent.glob("*.npz")) if path.parent.is_dir() else []
        raise FileNotFoundError(
            f"no shipped trace {name!r}; shipped: {', '.join(shipped) or 'none'}"
        )
    return path


def shipped_traces(name: str) -> TraceSet:
    """A trace set shipped with the package, e.g. `hoddle-816-s1`."""
    return load_traces(shipped_trace_path(name))
