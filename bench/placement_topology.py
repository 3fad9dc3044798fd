"""Topologies for the placement benchmark: Melbourne CBD (real sites) and a synthetic city.

A topology is what the engine would learn from the field: access points, hosts with capacities,
the true RTT of every measured (access point, host) pair, users attached to access points, and
each access point's radio neighbours (for mobility and warm standby).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree  # type: ignore[import-untyped]

from mec_devtools.sim.topology import Site, melbourne_sites, melbourne_users, spread_sites
from mec_orchestrator.decisions.latency.estimate import distance_km

FLOOR_MS = 1.0  # radio and processing
FIBRE_MS_PER_KM = 0.01  # each way
NEIGHBOURS = 6


def rtt_ms(km: float) -> float:
    return FLOOR_MS + 2.0 * FIBRE_MS_PER_KM * km


@dataclass
class Topology:
    name: str
    access_points: list[str]
    capacity: dict[str, int]
    latency: dict[str, dict[str, float]]  # access point -> host -> true RTT (ms)
    users: list[tuple[str, str]]  # (user, access point)
    neighbours: dict[str, list[str]]
    notes: dict[str, object] = field(default_factory=dict)

    @property
    def pairs(self) -> int:
        return sum(len(row) for row in self.latency.values())


def equal_capacity(hosts: list[str], users: int, slack: float) -> dict[str, int]:
    per_host = math.ceil(users * slack / len(hosts))
    return dict.fromkeys(hosts, per_host)


def _haversine_km(
    lat: NDArray[np.float64], lon: NDArray[np.float64], site_lat: float, site_lon: float
) -> NDArray[np.float64]:
    p1, p2 = np.radians(lat), math.radians(site_lat)
    dp, dl = p2 - p1, np.radians(site_lon - lon)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    result: NDArray[np.float64] = 2 * 6371.0088 * np.arcsin(np.sqrt(a))
    return result


def _site_id(site: Site) -> str:
    return f"site-{site.site_id}"


def melbourne(hosts: int, users: int, slack: float, seed: int) -> Topology:
    """125 real sites as access points, `hosts` of them (spread out) as edge hosts.

    Users: the 816 dataset users, plus synthetic ones drawn around them (Gaussian, 150 m), each
    attached to its nearest site. Latency: RTT from great-circle distance, every pair measured.
    """
    rng = np.random.default_rng(seed)
    sites = melbourne_sites()
    host_sites = spread_sites(sites, hosts)
    access_points = [_site_id(s) for s in sites]
    latency = {
        _site_id(ap): {
            _site_id(h): rtt_ms(distance_km(ap.latitude, ap.longitude, h.latitude, h.longitude))
            for h in host_sites
        }
        for ap in sites
    }
    dataset = melbourne_users()
    lat = np.array([u.latitude for u in dataset])
    lon = np.array([u.longitude for u in dataset])
    if users > len(dataset):
        extra = users - len(dataset)
        base = rng.integers(0, len(dataset), extra)
        jitter_deg = 0.15 / 111.0
        lat = np.concatenate([lat, lat[base] + rng.normal(0, jitter_deg, extra)])
        lon = np.concatenate([lon, lon[base] + rng.normal(0, jitter_deg, extra)])
    lat, lon = lat[:users], lon[:users]
    distances = np.stack([_haversine_km(lat, lon, s.latitude, s.longitude) for s in sites], axis=1)
    nearest = distances.argmin(axis=1)
    user_list = [(f"user-{i:06}", access_points[int(nearest[i])]) for i in range(users)]
    neighbours = {}
    for site in sites:
        ranked = sorted(
            sites,
            key=lambda s: distance_km(site.latitude, site.longitude, s.latitude, s.longitude),
        )
        neighbours[_site_id(site)] = [_site_id(s) for s in ranked[1 : NEIGHBOURS + 1]]
    host_names = [_site_id(h) for h in host_sites]
    return Topology(
        name=f"melbourne-{hosts}h",
        access_points=access_points,
        capacity=equal_capacity(host_names, users, slack),
        latency=latency,
        users=user_list,
        neighbours=neighbours,
        notes={
            "access_points": len(sites),
            "hosts": hosts,
            "users": users,
            "dataset_users": min(users, len(dataset)),
            "capacity_slack": slack,
        },
    )


def synthetic_city(
    sites: int, users: int, measured_per_access_point: int, slack: float, seed: int
) -> Topology:
    """A Shanghai-Telecom-sized city: clustered sites on 60 x 60 km, every site a host.

    Each access point measures its `measured_per_access_point` nearest hosts (agents probe the
    reflectors around them, not across the city); RTT from distance times a per-pair route
    factor in [1.0, 1.6). Users pick sites with log-normal popularity (hot spots); capacities
    vary around the mean (x0.5 .. x1.5) with total = slack x users.
    """
    rng = np.random.default_rng(seed)
    clusters = 40
    centres = rng.uniform(5.0, 55.0, (clusters, 2))
    spread = rng.uniform(0.5, 3.0, clusters)
    clustered = int(sites * 0.85)
    which = rng.integers(0, clusters, clustered)
    points = np.concatenate(
        [
            centres[which] + rng.normal(0.0, 1.0, (clustered, 2)) * spread[which, None],
            rng.uniform(0.0, 60.0, (sites - clustered, 2)),
        ]
    )
    names = [f"bs-{i:04}" for i in range(sites)]
    tree = cKDTree(points)
    k = min(measured_per_access_point, sites)
    distances, nearest = tree.query(points, k=k)
    route = rng.uniform(1.0, 1.6, (sites, k))
    latency = {
        names[a]: {
            names[int(nearest[a, j])]: rtt_ms(float(distances[a, j] * route[a, j]))
            for j in range(k)
        }
        for a in range(sites)
    }
    _, near = tree.query(points, k=NEIGHBOURS + 1)
    neighbours = {names[a]: [names[int(b)] for b in near[a, 1:]] for a in range(sites)}
    popularity = rng.lognormal(0.0, 1.0, sites)
    chosen = rng.choice(sites, size=users, p=popularity / popularity.sum())
    user_list = [(f"user-{i:06}", names[int(chosen[i])]) for i in range(users)]
    raw = rng.uniform(0.5, 1.5, sites)
    capacity = {
        names[i]: max(1, round(float(raw[i] / raw.sum()) * users * slack)) for i in range(sites)
    }
    return Topology(
        name=f"synthetic-{sites}h",
        access_points=names,
        capacity=capacity,
        latency=latency,
        users=user_list,
        neighbours=neighbours,
        notes={
            "access_points": sites,
            "hosts": sites,
            "users": users,
            "measured_hosts_per_access_point": k,
            "capacity_slack": slack,
            "area_km": "60 x 60",
        },
    )
