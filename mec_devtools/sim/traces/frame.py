"""The Hoddle Grid's frame: metres along Melbourne's CBD streets, and back to latitude/longitude.

The street network is built axis-aligned (x along Flinders Street, y along Spencer Street) so
that SUMO's coordinates are metres along the streets; this module maps them onto the map. The
constants were fitted (least squares, rms 22 m) to the 22 EUA sites whose names give the corner
they stand at ("cnr Collins & Swanston Sts", ...): the cross streets (Spencer, King, William,
Queen, Elizabeth, Swanston, Russell, Exhibition, Spring) are 233 m apart between centre lines,
the long ones (Flinders, Collins, Bourke, Lonsdale, La Trobe) 225 m, and Flinders Street runs
at a bearing of 69.7 degrees (the grid is turned about 20 degrees anticlockwise from east).
Distances use the same Earth radius as the orchestrator's haversine (`distance_km`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from mec_orchestrator.decisions.latency.estimate import EARTH_RADIUS_KM

ORIGIN_LAT = -37.82099
"""The corner of Flinders Street and Spencer Street: x = y = 0."""
ORIGIN_LON = 144.95504
BEARING_DEG = 69.7
"""Bearing of the x axis (Flinders Street, west to east-north-east)."""
CROSS_STREET_SPACING_M = 233.0
"""Between the centre lines of the cross streets (Spencer ... Spring), along x."""
LONG_STREET_SPACING_M = 225.0
"""Between the centre lines of the long streets (Flinders ... La Trobe), along y."""

_M_PER_DEG_LAT = EARTH_RADIUS_KM * 1000.0 * math.pi / 180.0
_M_PER_DEG_LON = _M_PER_DEG_LAT * math.cos(math.radians(ORIGIN_LAT))
_B = math.radians(BEARING_DEG)
# Unit vectors of the grid's axes in (east, north) metres.
_X_EAST, _X_NORTH = math.sin(_B), math.cos(_B)
_Y_EAST, _Y_NORTH = -math.cos(_B), math.sin(_B)

FloatArray = NDArray[np.float64]


def to_latlon(x_m: FloatArray, y_m: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Grid metres to (latitude, longitude) in degrees (equirectangular: a 3 km area)."""
    east = x_m * _X_EAST + y_m * _Y_EAST
    north = x_m * _X_NORTH + y_m * _Y_NORTH
    return ORIGIN_LAT + north / _M_PER_DEG_LAT, ORIGIN_LON + east / _M_PER_DEG_LON


def to_grid(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(latitude, longitude) in degrees to grid metres; the inverse of `to_latlon`."""
    north = (lat - ORIGIN_LAT) * _M_PER_DEG_LAT
    east = (lon - ORIGIN_LON) * _M_PER_DEG_LON
    return east * _X_EAST + north * _X_NORTH, east * _Y_EAST + north * _Y_NORTH
