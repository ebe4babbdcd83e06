"""GET /inspections (filters, cursor pagination), /inspections.csv (streamed) and /inspections/{id}."""

from __future__ import annotations

from http import HTTPStatus
from itertools import chain
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse

from inspector.api.csv_export import csv_chunks
from inspector.api.deps import InspectionsDep
from inspector.api.filters import FilterDep, PartId, check_cursor
from inspector.api.schemas import InspectionPublic, InspectionsPublic
from inspector.storage.store import MAX_PAGE, decode_cursor

router = APIRouter(prefix="/inspections", tags=["inspections"])


@router.get("", response_model=InspectionsPublic)
def list_inspections(
    inspections: InspectionsDep,
    where: FilterDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page.")] = 100,
    cursor: Annotated[str | None, Query(
        max_length=512, description="`next_cursor` of the previous page (same filters).")] = None,
) -> InspectionsPublic:
    """One page of inspections, newest first; every filter is optional and all must hold."""
    check_cursor(cursor, decode_cursor)
    rows, next_cursor = inspections.list(limit=limit, cursor=cursor, where=where)
    items = [InspectionPublic.of(r) for r in rows]
    return InspectionsPublic(items=items, count=len(items), next_cursor=next_cursor)


@router.get(".csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}},
                             "description": "Header line, then the rows newest first."}})
def export_inspections(inspections: InspectionsDep, where: FilterDep) -> StreamingResponse:
    """Every matching inspection as CSV, streamed page by page (memory stays flat)."""
    pages = inspections.pages(where)
    first = next(pages, [])  # a database that is away answers 503 here, before the 200
    return StreamingResponse(
        csv_chunks(chain([first], pages)), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="inspections.csv"'},
    )


@router.get("/{part_id}", response_model=InspectionPublic,
            responses={404: {"description": "No inspection has this part id."}})
def get_inspection(part_id: PartId, inspections: InspectionsDep) -> InspectionPublic:
    """One inspection by its part id."""
    found = inspections.get(part_id)
    if found is None:
        raise HTTPException(HTTPStatus.NOT_FOUND, f"no inspection with part_id {part_id!r}")
    return InspectionPublic.of(found)
