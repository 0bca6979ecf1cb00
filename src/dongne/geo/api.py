"""Region routes: the region tree, one region, and map point resolution."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from dongne.api.deps import RouterDep
from dongne.api.problems import Problem
from dongne.geo import repository
from dongne.geo.services import InvalidCoordinatesError, OutsideServiceAreaError, resolve

router = APIRouter(prefix="/regions", tags=["regions"])

RegionCode = Annotated[str, Path(pattern=r"^[A-Z]{2}(-[0-9]{2}){0,3}$", max_length=20)]
RegionType = Literal["country", "province", "city", "district", "neighborhood"]


class RegionOut(BaseModel):
    code: str
    name: str
    name_en: str | None
    parent_code: str | None
    region_type: str
    center: dict[str, float] | None
    is_active: bool
    question_count: int
    kostat_code: str | None


class RegionList(BaseModel):
    items: list[RegionOut]
    total: int


class RegionDetail(RegionOut):
    children: list[RegionOut]
    boundary: dict[str, Any] | None
    attribution: str | None


class ResolveOut(BaseModel):
    code: str
    name: str
    parent_code: str
    distance_km: float
    snapped: bool


_ATTRIBUTION = "행정구역 경계: 통계청 SGIS (2018), 공공누리 제1유형"


def _region_out(row: dict[str, Any]) -> RegionOut:
    center = None
    if row["center_lng"] is not None:
        center = {"lat": row["center_lat"], "lng": row["center_lng"]}
    return RegionOut(
        code=row["code"],
        name=row["name"],
        name_en=row["name_en"],
        parent_code=row["parent_code"],
        region_type=row["region_type"],
        center=center,
        is_active=row["is_active"],
        question_count=row["question_count"],
        kostat_code=row["settings"].get("kostat_code"),
    )


@router.get("", response_model=RegionList, summary="지역 목록")
async def list_regions(
    db: RouterDep,
    parent: Annotated[str | None, Query(pattern=r"^[A-Z]{2}(-[0-9]{2}){0,3}$")] = None,
    region_type: Annotated[RegionType | None, Query(alias="type")] = None,
) -> RegionList:
    async with db.connection() as conn:
        rows = await repository.list_regions(conn, parent=parent, region_type=region_type)
    return RegionList(items=[_region_out(r) for r in rows], total=len(rows))


@router.get("/resolve", response_model=ResolveOut, summary="좌표로 읍·면·동 찾기")
async def resolve_point(
    db: RouterDep,
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
) -> ResolveOut:
    try:
        hit = await resolve(db, lat, lng)
    except InvalidCoordinatesError as error:
        raise Problem(
            422, "좌표가 올바르지 않습니다", str(error), slug="invalid-coordinates"
        ) from error
    except OutsideServiceAreaError as error:
        raise Problem(
            404, "서비스 지역 밖입니다", str(error), slug="outside-service-area"
        ) from error
    return ResolveOut(
        code=hit.code,
        name=hit.name,
        parent_code=hit.parent_code,
        distance_km=hit.distance_km,
        snapped=hit.snapped,
    )


@router.get("/{code}", response_model=RegionDetail, summary="지역 상세")
async def get_region(db: RouterDep, code: RegionCode) -> RegionDetail:
    async with db.connection() as conn:
        row = await repository.get_region(conn, code)
        children = await repository.list_regions(conn, parent=code) if row else []
    if row is None:
        raise Problem(
            404, "지역을 찾을 수 없습니다", f"지역 코드 {code}가 없습니다", slug="unknown-region"
        )
    return RegionDetail(
        **_region_out(row).model_dump(),
        children=[_region_out(c) for c in children],
        boundary=row["boundary"],
        attribution=_ATTRIBUTION if row["boundary"] else None,
    )
