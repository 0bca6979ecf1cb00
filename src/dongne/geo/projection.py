"""The local kilometre plane shared with the SQL function ``geo_plane``.

An equirectangular projection around 33.4°N: distances on it are kilometres to
within 1% across Jeju, which is all the 2 km offshore snapping needs.
"""

from __future__ import annotations

import math

REFERENCE_LATITUDE = 33.4
KM_PER_DEGREE_LATITUDE = 110.950
KM_PER_DEGREE_LONGITUDE = 111.320 * math.cos(math.radians(REFERENCE_LATITUDE))


def to_plane_km(lng: float, lat: float) -> tuple[float, float]:
    return lng * KM_PER_DEGREE_LONGITUDE, lat * KM_PER_DEGREE_LATITUDE
