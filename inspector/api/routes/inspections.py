"""GET /inspections (cursor-paginated, newest first) and GET /inspections/{part_id}."""

from __future__ import annotations

from datetime import datetime
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from inspector.api.deps import InspectionsDep
from inspector.api.schemas import InspectionPublic, InspectionsPublic
from inspector.api.timeutil import as_utc
from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.store import MAX_PAGE, decode_cursor

router = APIRouter(prefix="/inspections", tags=["inspections"])


@router.get("", response_model=InspectionsPublic)
def list_inspections(
    inspections: InspectionsDep,
    since: Annotated[datetime | None, Query(description="Inspected at or after (no zone = UTC).")]
    = None,
    until: Annotated[datetime | None, Query(description="Inspected before (exclusive).")] = None,
    verdict: Annotated[Verdict | None, Query(description="OK, REVIEW or NG.")] = None,
    station_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")] = 100,
    cursor: Annotated[str | None, Query(
        max_length=512, description="`next_cursor` of the previous page (same filters).")] = None,
) -> InspectionsPublic:
    """One page of inspections, newest first."""
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except StoreError as exc:
            raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
    rows, next_cursor = inspections.list(
        since=as_utc(since) if since else None, until=as_utc(until) if until else None,
        verdict=verdict, station_id=station_id, limit=limit, cursor=cursor,
    )
    items = [InspectionPublic.of(r) for r in rows]
    return InspectionsPublic(items=items, count=len(items), next_cursor=next_cursor)


@router.get("/{part_id}", response_model=InspectionPublic,
            responses={404: {"description": "No inspection has this part id."}})
def get_inspection(part_id: str, inspections: InspectionsDep) -> InspectionPublic:
    """One inspection by its part id."""
    found = inspections.get(part_id)
    if found is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no inspection with part_id {part_id!r}")
    return InspectionPublic.of(found)
