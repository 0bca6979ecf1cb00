"""Read KOSTAT boundary GeoJSON into dongne regions: codes, names, centres, repaired shapes.

Pure functions, no database: the whole file is parsed and validated before a
single row is written, so a corrupt file changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from dongne.geo.projection import to_plane_km

BUNDLED_FILE = "jeju-admin-boundaries-2018.geojson"

# Slivers left by repairing a self-intersection (in square degrees; ~1 m²).
_MIN_PART_AREA = 1e-10
_COORDINATE_DIGITS = 7

# The specification's 13 regions, kept exactly: code, KOSTAT code, name,
# English name, centre (longitude, latitude).
_SEED_REGIONS: tuple[tuple[str, str | None, str, str, tuple[float, float]], ...] = (
    ("KR", None, "대한민국", "South Korea", (127.766922, 35.907757)),
    (
        "KR-49",
        "39",
        "제주특별자치도",
        "Jeju Special Self-Governing Province",
        (126.531188, 33.499621),
    ),
    ("KR-49-01", "39010", "제주시", "Jeju City", (126.521667, 33.513611)),
    ("KR-49-02", "39020", "서귀포시", "Seogwipo City", (126.555, 33.254167)),
    ("KR-49-01-01", "3901011", "한림읍", "Hallim-eup", (126.266111, 33.414722)),
    ("KR-49-01-02", "3901012", "애월읍", "Aewol-eup", (126.331944, 33.464722)),
    ("KR-49-01-03", "3901013", "구좌읍", "Gujwa-eup", (126.768056, 33.564167)),
    ("KR-49-01-04", "3901014", "조천읍", "Jocheon-eup", (126.654167, 33.551944)),
    ("KR-49-02-01", "3902011", "대정읍", "Daejeong-eup", (126.244722, 33.229167)),
    ("KR-49-02-02", "3902031", "안덕면", "Andeok-myeon", (126.392778, 33.306944)),
    ("KR-49-02-03", "3902032", "표선면", "Pyoseon-myeon", (126.838889, 33.329167)),
    ("KR-49-02-04", "3902012", "남원읍", "Namwon-eup", (126.713333, 33.289444)),
    ("KR-49-02-05", "3902013", "성산읍", "Seongsan-eup", (126.921944, 33.419444)),
)

SEED_CENTERS: dict[str, tuple[float, float]] = {code: c for code, _, _, _, c in _SEED_REGIONS}

_LEVELS = {"province": 2, "city": 5, "district": 7}


class BoundaryFileError(ValueError):
    """The boundary file cannot be turned into regions."""


@dataclass(frozen=True)
class RegionRecord:
    code: str
    name: str
    name_en: str | None
    parent_code: str | None
    region_type: str
    center: tuple[float, float]
    bbox: tuple[float, float, float, float] | None
    boundary: dict[str, Any] | None
    outer_rings: tuple[tuple[tuple[float, float], ...], ...]
    holes: tuple[tuple[tuple[tuple[float, float], ...], ...], ...]
    kostat_code: str | None

    def ring_km(self, ring: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        return tuple(to_plane_km(lng, lat) for lng, lat in ring)


def bundled_path() -> Path:
    return Path(str(resources.files("dongne.geo").joinpath("data", BUNDLED_FILE)))


def read_regions(path: Path | None = None) -> list[RegionRecord]:
    """Parse a KOSTAT boundary file into the full region list, parents first (code order)."""
    source = path or bundled_path()
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BoundaryFileError(f"cannot read boundary file {source}: {error}") from error
    features = _features(document)
    codes = _assign_codes(features)
    records = [_country()]
    for feature in sorted(features, key=lambda f: (len(f["code"]), f["code"])):
        records.append(_record(feature, codes))
    return sorted(records, key=lambda r: r.code)


def _features(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise BoundaryFileError("boundary file is not a GeoJSON FeatureCollection")
    raw = document.get("features")
    if not isinstance(raw, list) or not raw:
        raise BoundaryFileError("boundary file has no features")
    features = []
    for index, feature in enumerate(raw):
        try:
            props = feature["properties"]
            code, level = str(props["code"]), str(props["level"])
            name = str(props["name"]).strip()
            geometry = _repair(shape(feature["geometry"]))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BoundaryFileError(f"feature {index} is malformed: {error!r}") from error
        if _LEVELS.get(level) != len(code) or not code.isdigit() or not name:
            raise BoundaryFileError(f"feature {index} has an invalid code/level/name: {props}")
        _check_coordinates(geometry, index)
        features.append({**props, "code": code, "name": name, "geometry": geometry})
    if sum(1 for f in features if f["level"] == "province") != 1:
        raise BoundaryFileError("boundary file must hold exactly one province")
    return features


def _repair(geometry: BaseGeometry) -> MultiPolygon:
    """Make a published boundary valid, keeping only its polygonal area."""
    if geometry.geom_type not in {"Polygon", "MultiPolygon"}:
        raise ValueError(f"unsupported geometry type {geometry.geom_type}")
    fixed = make_valid(geometry)
    polygons: list[Polygon] = []
    for part in getattr(fixed, "geoms", [fixed]):
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    polygons = [p for p in polygons if p.area > _MIN_PART_AREA]
    if not polygons:
        raise ValueError("geometry has no area")
    return MultiPolygon(sorted(polygons, key=lambda p: -p.area))


def _check_coordinates(geometry: MultiPolygon, index: int) -> None:
    min_x, min_y, max_x, max_y = geometry.bounds
    if not (-180 <= min_x <= max_x <= 180 and -90 <= min_y <= max_y <= 90):
        raise BoundaryFileError(f"feature {index} has coordinates outside longitude/latitude")


def _assign_codes(features: list[dict[str, Any]]) -> dict[str, str]:
    """KOSTAT code -> dongne code: the seed's codes, then next numbers per parent."""
    codes = {kostat: code for code, kostat, _, _, _ in _SEED_REGIONS if kostat}
    kostat_codes = {f["code"] for f in features}
    for feature in sorted(features, key=lambda f: (len(f["code"]), f["code"])):
        kostat = feature["code"]
        if kostat in codes:
            continue
        parent_kostat = _parent_kostat(kostat)
        if parent_kostat is None or parent_kostat not in kostat_codes:
            raise BoundaryFileError(f"region {kostat} has no parent in the file")
        parent = codes[parent_kostat]
        taken = {c for c in codes.values() if c.rsplit("-", 1)[0] == parent}
        number = max((int(c.rsplit("-", 1)[1]) for c in taken), default=0) + 1
        if number > 99:
            raise BoundaryFileError(f"more than 99 children under {parent}")
        codes[kostat] = f"{parent}-{number:02d}"
    return codes


def _parent_kostat(kostat: str) -> str | None:
    return {7: kostat[:5], 5: kostat[:2]}.get(len(kostat))


def _country() -> RegionRecord:
    code, _, name, name_en, center = _SEED_REGIONS[0]
    return RegionRecord(code, name, name_en, None, "country", center, None, None, (), (), None)


def _record(feature: dict[str, Any], codes: dict[str, str]) -> RegionRecord:
    kostat = feature["code"]
    code = codes[kostat]
    parent_kostat = _parent_kostat(kostat)
    parent = codes[parent_kostat] if parent_kostat else "KR"
    geometry: MultiPolygon = feature["geometry"]
    seed = next((s for s in _SEED_REGIONS if s[0] == code), None)
    name_en = seed[3] if seed else feature.get("name_eng")
    if seed:
        center = seed[4]
    else:
        point = geometry.representative_point()
        center = (round(point.x, 6), round(point.y, 6))
    return RegionRecord(
        code=code,
        name=seed[2] if seed else feature["name"],
        name_en=str(name_en) if name_en else None,
        parent_code=parent,
        region_type=feature["level"],
        center=center,
        bbox=_rounded_bounds(geometry),
        boundary=_rounded_geojson(geometry),
        outer_rings=tuple(_ring(p.exterior.coords) for p in geometry.geoms),
        holes=tuple(tuple(_ring(h.coords) for h in p.interiors) for p in geometry.geoms),
        kostat_code=kostat,
    )


def _rounded_bounds(geometry: MultiPolygon) -> tuple[float, float, float, float]:
    min_x, min_y, max_x, max_y = (round(v, _COORDINATE_DIGITS) for v in geometry.bounds)
    return min_x, min_y, max_x, max_y


def _ring(coords: Any) -> tuple[tuple[float, float], ...]:
    points = [(round(x, _COORDINATE_DIGITS), round(y, _COORDINATE_DIGITS)) for x, y, *_ in coords]
    return tuple(points[:-1] if len(points) > 1 and points[0] == points[-1] else points)


def _rounded_geojson(geometry: MultiPolygon) -> dict[str, Any]:
    geojson = mapping(geometry)
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [[list(point) for point in _ring(ring)] for ring in polygon]
            for polygon in geojson["coordinates"]
        ],
    }
