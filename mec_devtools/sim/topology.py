"""The Melbourne CBD topology (EUA dataset): radio sites as access points, users as positions.

The dataset ships with the package (MIT licence, see datasets/eua/LICENSE) so the demo, tests
and benchmarks run from a fresh clone without anything beside it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from mec_orchestrator.decisions.latency.estimate import distance_km


@dataclass(frozen=True, order=True)
class Site:
    """A radio base-station site: an access point and a candidate edge-host location."""

    site_id: str
    latitude: float
    longitude: float
    name: str


@dataclass(frozen=True)
class UserPosition:
    latitude: float
    longitude: float


def _rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("mec_devtools.sim").joinpath("datasets", "eua", filename).read_text()
    return list(csv.DictReader(text.splitlines()))


def melbourne_sites() -> list[Site]:
    """The 125 Melbourne CBD sites, in file order."""
    return [
        Site(row["SITE_ID"], float(row["LATITUDE"]), float(row["LONGITUDE"]), row["NAME"].strip())
        for row in _rows("site-optus-melbCBD.csv")
    ]


def melbourne_users() -> list[UserPosition]:
    """The 816 generated user positions of the dataset."""
    return [
        UserPosition(float(r["Latitude"]), float(r["Longitude"]))
        for r in _rows("users-melbcbd-generated.csv")
    ]


def spread_sites(sites: list[Site], count: int) -> list[Site]:
    """Pick count sites spread over the area (farthest-point sampling): edge hosts."""
    if count <= 0 or not sites:
        return []
    chosen = [sites[0]]
    while len(chosen) < min(count, len(sites)):
        best = max(
            (s for s in sites if s not in chosen),
            key=lambda s: (
                min(distance_km(s.latitude, s.longitude, c.latitude, c.longitude) for c in chosen),
                s.site_id,
            ),
        )
        chosen.append(best)
    return chosen
