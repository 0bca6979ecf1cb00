"""SQL for regions. Functions take a connection and never commit."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from dongne.geo.boundaries import RegionRecord

_REGION_COLUMNS = """
    code, name, name_en, parent_code, region_type::text AS region_type,
    center[0] AS center_lng, center[1] AS center_lat, is_active, question_count, user_count,
    settings
"""


def polygon_literal(ring: tuple[tuple[float, float], ...]) -> str:
    return "(" + ",".join(f"({x!r},{y!r})" for x, y in ring) + ")"


async def upsert_region(conn: AsyncConnection[DictRow], record: RegionRecord) -> bool:
    """Insert or update one region; True when anything changed."""
    bbox = None
    if record.bbox:
        min_x, min_y, max_x, max_y = record.bbox
        bbox = f"(({max_x!r},{max_y!r}),({min_x!r},{min_y!r}))"
    settings = {"kostat_code": record.kostat_code} if record.kostat_code else {}
    cursor = await conn.execute(
        """
        INSERT INTO regions AS r
            (code, name, name_en, parent_code, region_type, center, bbox, boundary, settings)
        VALUES (%(code)s, %(name)s, %(name_en)s, %(parent)s, %(type)s::region_type,
                point(%(lng)s, %(lat)s), %(bbox)s::box, %(boundary)s, %(settings)s)
        ON CONFLICT (code) DO UPDATE SET
            name = EXCLUDED.name, name_en = EXCLUDED.name_en, parent_code = EXCLUDED.parent_code,
            region_type = EXCLUDED.region_type, center = EXCLUDED.center, bbox = EXCLUDED.bbox,
            boundary = EXCLUDED.boundary, settings = r.settings || EXCLUDED.settings
        WHERE (r.name, r.name_en, r.parent_code, r.region_type, r.center::text, r.bbox::text,
               r.boundary, r.settings @> EXCLUDED.settings)
              IS DISTINCT FROM
              (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.parent_code, EXCLUDED.region_type,
               EXCLUDED.center::text, EXCLUDED.bbox::text, EXCLUDED.boundary, true)
        """,
        {
            "code": record.code,
            "name": record.name,
            "name_en": record.name_en,
            "parent": record.parent_code,
            "type": record.region_type,
            "lng": record.center[0],
            "lat": record.center[1],
            "bbox": bbox,
            "boundary": Jsonb(record.boundary) if record.boundary else None,
            "settings": Jsonb(settings),
        },
    )
    return cursor.rowcount > 0


async def replace_shapes(conn: AsyncConnection[DictRow], record: RegionRecord) -> None:
    await conn.execute("DELETE FROM region_shapes WHERE region_code = %s", (record.code,))
    async with conn.cursor() as cursor:
        await cursor.executemany(
            """
            INSERT INTO region_shapes (region_code, part, shape, holes, shape_km)
            VALUES (%s, %s, %s::polygon, %s::polygon[], %s::polygon)
            """,
            [
                (
                    record.code,
                    part,
                    polygon_literal(ring),
                    [polygon_literal(hole) for hole in record.holes[part]],
                    polygon_literal(record.ring_km(ring)),
                )
                for part, ring in enumerate(record.outer_rings)
            ],
        )


async def shape_count(conn: AsyncConnection[DictRow], code: str) -> int:
    cursor = await conn.execute(
        "SELECT count(*) AS n FROM region_shapes WHERE region_code = %s", (code,)
    )
    row = await cursor.fetchone()
    return int(row["n"]) if row else 0


async def list_regions(
    conn: AsyncConnection[DictRow], *, parent: str | None = None, region_type: str | None = None
) -> list[dict[str, Any]]:
    cursor = await conn.execute(
        f"""
        SELECT {_REGION_COLUMNS} FROM regions
        WHERE (%(parent)s::varchar IS NULL OR parent_code = %(parent)s)
          AND (%(type)s::text IS NULL OR region_type::text = %(type)s)
        ORDER BY code
        """,  # noqa: S608 - only the fixed column list is interpolated
        {"parent": parent, "type": region_type},
    )
    return await cursor.fetchall()


async def get_region(conn: AsyncConnection[DictRow], code: str) -> dict[str, Any] | None:
    cursor = await conn.execute(
        f"SELECT {_REGION_COLUMNS}, boundary FROM regions WHERE code = %s",  # noqa: S608
        (code,),
    )
    return await cursor.fetchone()


async def region_at(
    conn: AsyncConnection[DictRow], lng: float, lat: float, max_km: float
) -> dict[str, Any] | None:
    cursor = await conn.execute(
        """
        SELECT hit.code, hit.distance_km, r.name, r.parent_code
        FROM region_at(point(%s, %s), %s) AS hit
        JOIN regions r ON r.code = hit.code
        """,
        (lng, lat, max_km),
    )
    return await cursor.fetchone()


async def region_scope(conn: AsyncConnection[DictRow], region_code: str) -> list[str]:
    """A region and every region under it (region codes extend their parent's)."""
    cursor = await conn.execute(
        "SELECT code FROM regions WHERE code = %(code)s OR code LIKE %(code)s || '-%%'",
        {"code": region_code},
    )
    return [row["code"] for row in await cursor.fetchall()]
