"""Loading regions into PostgreSQL and resolving map points to districts."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import DictRow

from dongne.db.router import ShardRouter
from dongne.geo.boundaries import SEED_CENTERS, BoundaryFileError, bundled_path
from dongne.geo.services import (
    InvalidCoordinatesError,
    OutsideServiceAreaError,
    load_regions,
    resolve,
)

SEED_DISTRICTS = [code for code in SEED_CENTERS if code.count("-") == 3]


@pytest.mark.parametrize("code", SEED_DISTRICTS)
async def test_each_seed_centre_resolves_to_its_own_district(
    router: ShardRouter, code: str
) -> None:
    lng, lat = SEED_CENTERS[code]
    hit = await resolve(router, lat, lng)
    assert hit.code == code
    assert hit.distance_km <= 2.0


async def test_offshore_seed_centres_snap_to_their_district(router: ShardRouter) -> None:
    lng, lat = SEED_CENTERS["KR-49-02-05"]  # 성산읍's seed centre is in the sea
    hit = await resolve(router, lat, lng)
    assert hit.code == "KR-49-02-05"
    assert hit.snapped
    assert 0 < hit.distance_km < 2.0


@pytest.mark.parametrize("code", ["KR-49-01", "KR-49-02"])
async def test_city_centres_resolve_inside_the_city(router: ShardRouter, code: str) -> None:
    lng, lat = SEED_CENTERS[code]
    hit = await resolve(router, lat, lng)
    assert hit.parent_code == code
    assert not hit.snapped


async def test_every_district_contains_its_centre(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    rows = db.execute(
        "SELECT code, center[0] AS lng, center[1] AS lat FROM regions "
        "WHERE region_type = 'district'"
    ).fetchall()
    assert len(rows) == 43
    for row in rows:
        hit = await resolve(router, row["lat"], row["lng"])
        assert hit.code == row["code"]


@pytest.mark.parametrize(
    ("lat", "lng"),
    [(35.907757, 127.766922), (37.5665, 126.978), (33.0, 126.5), (33.55, 126.2)],
)
async def test_points_away_from_jeju_are_outside(
    router: ShardRouter, lat: float, lng: float
) -> None:
    with pytest.raises(OutsideServiceAreaError, match="서비스 지역"):
        await resolve(router, lat, lng)


async def test_snapping_stops_at_two_kilometres(router: ShardRouter) -> None:
    # Due north of 애월읍's coast: about 1 km out snaps, about 5 km out does not.
    near = await resolve(router, 33.478 + 0.009, 126.33)
    assert near.snapped and near.code == "KR-49-01-02"
    with pytest.raises(OutsideServiceAreaError):
        await resolve(router, 33.478 + 0.045, 126.33)


@pytest.mark.parametrize(
    ("lat", "lng"), [(91.0, 126.5), (33.4, 181.0), (float("nan"), 126.5), (33.4, float("inf"))]
)
async def test_invalid_coordinates(router: ShardRouter, lat: float, lng: float) -> None:
    with pytest.raises(InvalidCoordinatesError):
        await resolve(router, lat, lng)


def _fingerprint(db: psycopg.Connection[DictRow]) -> list[dict[str, object]]:
    return db.execute(
        "SELECT r.code, r.updated_at, r.xmin::text AS version, "
        "(SELECT array_agg(s.xmin::text ORDER BY s.part) FROM region_shapes s "
        " WHERE s.region_code = r.code) AS shape_versions FROM regions r ORDER BY r.code"
    ).fetchall()


async def test_loading_twice_changes_nothing(
    router: ShardRouter, db: psycopg.Connection[DictRow]
) -> None:
    before = _fingerprint(db)
    report = await load_regions(router)
    assert (report.regions, report.changed) == (47, 0)
    assert _fingerprint(db) == before


async def test_corrupt_file_leaves_the_database_unchanged(
    router: ShardRouter, db: psycopg.Connection[DictRow], tmp_path: Path
) -> None:
    raw = json.loads(bundled_path().read_text(encoding="utf-8"))
    raw["features"][10]["properties"]["name"] = "바뀐이름"
    raw["features"][40]["geometry"]["coordinates"] = "garbage"
    path = tmp_path / "half-broken.geojson"
    path.write_text(json.dumps(raw))
    before = _fingerprint(db)
    with pytest.raises(BoundaryFileError):
        await load_regions(router, path)
    assert _fingerprint(db) == before


async def test_a_changed_file_updates_only_what_changed(
    router: ShardRouter, db: psycopg.Connection[DictRow], tmp_path: Path
) -> None:
    raw = json.loads(bundled_path().read_text(encoding="utf-8"))
    udo = next(f for f in raw["features"] if f["properties"]["name"] == "우도면")
    udo["properties"]["name"] = "우도"
    path = tmp_path / "renamed.geojson"
    path.write_text(json.dumps(raw))
    report = await load_regions(router, path)
    assert report.changed == 1
    row = db.execute("SELECT name FROM regions WHERE code = 'KR-49-01-07'").fetchone()
    assert row == {"name": "우도"}
    await load_regions(router)
    row = db.execute("SELECT name FROM regions WHERE code = 'KR-49-01-07'").fetchone()
    assert row == {"name": "우도면"}


def test_containment_uses_the_gist_index(db: psycopg.Connection[DictRow]) -> None:
    db.execute("SET enable_seqscan = off")
    plan = db.execute(
        "EXPLAIN SELECT region_code FROM region_shapes "
        "WHERE shape && polygon(box(point(126.33, 33.46), point(126.33, 33.46))) "
        "AND shape @> point(126.33, 33.46)"
    ).fetchall()
    assert any("region_shapes_shape_gist" in row["QUERY PLAN"] for row in plan)
