"""Reading KOSTAT boundaries into dongne regions (no database)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Polygon, shape

from dongne.geo.boundaries import SEED_CENTERS, BoundaryFileError, bundled_path, read_regions
from dongne.geo.projection import to_plane_km

SEED_NAMES = {
    "KR": "대한민국",
    "KR-49": "제주특별자치도",
    "KR-49-01": "제주시",
    "KR-49-02": "서귀포시",
    "KR-49-01-01": "한림읍",
    "KR-49-01-02": "애월읍",
    "KR-49-01-03": "구좌읍",
    "KR-49-01-04": "조천읍",
    "KR-49-02-01": "대정읍",
    "KR-49-02-02": "안덕면",
    "KR-49-02-03": "표선면",
    "KR-49-02-04": "남원읍",
    "KR-49-02-05": "성산읍",
}


def test_all_47_regions_with_the_seed_codes() -> None:
    regions = read_regions()
    by_code = {r.code: r for r in regions}
    assert len(regions) == 47
    assert [r.region_type for r in regions].count("district") == 43
    for code, name in SEED_NAMES.items():
        assert by_code[code].name == name
        assert by_code[code].center == SEED_CENTERS[code]
    assert {r.parent_code for r in regions if r.region_type == "district"} == {
        "KR-49-01",
        "KR-49-02",
    }
    assert by_code["KR-49-01-06"].name == "추자면"
    assert by_code["KR-49-02-17"].name == "예래동"
    assert by_code["KR-49-01-02"].kostat_code == "3901012"


def test_codes_are_unique_and_extend_their_parent() -> None:
    regions = read_regions()
    assert len({r.code for r in regions}) == len(regions)
    for region in regions:
        if region.parent_code:
            assert region.code.startswith(region.parent_code + "-")


def test_self_intersecting_rings_are_repaired() -> None:
    raw = json.loads(bundled_path().read_text(encoding="utf-8"))
    invalid = [
        f["properties"]["name"] for f in raw["features"] if not shape(f["geometry"]).is_valid
    ]
    assert "구좌읍" in invalid  # the published file really has broken rings
    for region in read_regions():
        for ring in region.outer_rings:
            assert Polygon(ring).is_valid, region.name


def test_non_seed_centres_lie_inside_their_district() -> None:
    for region in read_regions():
        if region.region_type == "district" and region.code not in SEED_CENTERS:
            polygons = [Polygon(ring) for ring in region.outer_rings]
            assert any(
                p.contains(shape({"type": "Point", "coordinates": region.center})) for p in polygons
            ), region.name


def test_projection_is_in_kilometres() -> None:
    # One degree of latitude is about 111 km; one of longitude at 33.4°N about 93 km.
    x0, y0 = to_plane_km(126.5, 33.4)
    x1, y1 = to_plane_km(127.5, 34.4)
    assert 92 < x1 - x0 < 94
    assert 110 < y1 - y0 < 112


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read"),
        ('{"type": "Feature"}', "FeatureCollection"),
        ('{"type": "FeatureCollection", "features": []}', "no features"),
        ('{"type": "FeatureCollection", "features": [{"properties": {}}]}', "malformed"),
    ],
)
def test_corrupt_files_give_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_text(content)
    with pytest.raises(BoundaryFileError, match=message):
        read_regions(path)


def _mutated(tmp_path: Path, change: str) -> Path:
    raw = json.loads(bundled_path().read_text(encoding="utf-8"))
    feature = raw["features"][5]
    if change == "coordinates":
        feature["geometry"]["coordinates"][0][0][0] = [500.0, 33.0]
    elif change == "level":
        feature["properties"]["level"] = "city"
    elif change == "orphan":
        feature["properties"]["code"] = "3903011"
    elif change == "geometry":
        feature["geometry"] = {"type": "Point", "coordinates": [126.5, 33.4]}
    path = tmp_path / f"{change}.geojson"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("coordinates", "outside longitude/latitude"),
        ("level", "invalid code/level"),
        ("orphan", "no parent"),
        ("geometry", "unsupported geometry"),
    ],
)
def test_inconsistent_files_are_rejected(tmp_path: Path, change: str, message: str) -> None:
    with pytest.raises(BoundaryFileError, match=message):
        read_regions(_mutated(tmp_path, change))
