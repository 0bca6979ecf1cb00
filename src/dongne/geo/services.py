"""Region use cases: load the boundary file, resolve a map point to a district."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from dongne.db.router import ShardRouter
from dongne.geo import repository
from dongne.geo.boundaries import read_regions

SNAP_RADIUS_KM = 2.0


class InvalidCoordinatesError(ValueError):
    """Latitude/longitude that are not a point on Earth."""


class OutsideServiceAreaError(LookupError):
    """A valid point that is not in, or near enough to, any district we serve."""


@dataclass(frozen=True)
class LoadReport:
    regions: int
    changed: int


@dataclass(frozen=True)
class Resolution:
    code: str
    name: str
    parent_code: str
    distance_km: float

    @property
    def snapped(self) -> bool:
        return self.distance_km > 0


async def load_regions(router: ShardRouter, path: Path | None = None) -> LoadReport:
    """Upsert every region and its shapes, one transaction per shard.

    Regions are reference data every shard holds; unchanged rows stay untouched.
    """
    records = read_regions(path)
    changed = 0
    for shard in router.shard_names:
        async with router.transaction(shard=shard) as conn:
            for record in records:
                if await repository.upsert_region(conn, record) or (
                    await repository.shape_count(conn, record.code) != len(record.outer_rings)
                ):
                    await repository.replace_shapes(conn, record)
                    changed += 1
    _scopes.clear()
    return LoadReport(regions=len(records), changed=changed)


# Region code → (expiry, the region and its sub-regions). Every feed and
# search filtered by region needs the scope; the region tree only changes when
# boundaries are loaded (which clears this process's copy; others expire).
SCOPE_TTL_S = 60.0
_scopes: dict[str, tuple[float, list[str]]] = {}


async def region_scope(router: ShardRouter, code: str) -> list[str]:
    """A region and every region under it; empty for an unknown code."""
    now = time.monotonic()
    cached = _scopes.get(code)
    if cached is not None and cached[0] > now:
        return cached[1]
    async with router.connection() as conn:
        scope = await repository.region_scope(conn, code)
    if scope:
        # Unknown codes are not cached: any string could fill the dict.
        _scopes[code] = (now + SCOPE_TTL_S, scope)
    return scope


def validate_coordinates(lat: float, lng: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise InvalidCoordinatesError("위도와 경도는 유한한 숫자여야 합니다")
    if not -90 <= lat <= 90:
        raise InvalidCoordinatesError(f"위도 {lat}는 -90에서 90 사이여야 합니다")
    if not -180 <= lng <= 180:
        raise InvalidCoordinatesError(f"경도 {lng}는 -180에서 180 사이여야 합니다")


async def resolve(router: ShardRouter, lat: float, lng: float) -> Resolution:
    """The district containing (lat, lng), or the nearest one within 2 km offshore."""
    validate_coordinates(lat, lng)
    async with router.connection() as conn:
        row = await repository.region_at(conn, lng, lat, SNAP_RADIUS_KM)
    if row is None:
        raise OutsideServiceAreaError(f"({lat}, {lng})는 서비스 지역(제주) 밖입니다")
    return Resolution(
        code=row["code"],
        name=row["name"],
        parent_code=row["parent_code"],
        distance_km=round(float(row["distance_km"]), 3),
    )
