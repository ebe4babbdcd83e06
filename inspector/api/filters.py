"""Query parameters shared by the inspection list, its CSV export and /stats, as typed dependencies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query

from inspector.api.timeutil import as_utc
from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage.filters import InspectionFilter, ReviewState

# No control characters: they are never part of an id, and PostgreSQL refuses NUL in text.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"

Since = Annotated[datetime | None, Query(description="Inspected at or after (no zone = UTC).")]
Until = Annotated[datetime | None, Query(description="Inspected before (exclusive; no zone = UTC).")]
PartId = Annotated[str, Path(pattern=PRINTABLE, description="The part's id.")]
StationId = Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                        description="Only this station.")]


def time_range(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
    """Both bounds in UTC; 422 when one cannot be expressed in UTC or until is not after since."""
    try:
        start = as_utc(since) if since is not None else None
        end = as_utc(until) if until is not None else None
    except OverflowError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "since/until: out of the representable date range") from exc
    if start is not None and end is not None and end <= start:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    return start, end


def inspection_filter(
    since: Since = None,
    until: Until = None,
    station_id: StationId = None,
    serial: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                        description="Only this serial.")] = None,
    verdict: Annotated[Verdict | None, Query(description="OK, REVIEW or NG.")] = None,
    label: Annotated[str | None, Query(min_length=1, max_length=64, pattern=PRINTABLE,
                                       description="Only parts the model gave this class.")] = None,
    model_version: Annotated[str | None, Query(min_length=1, max_length=128, pattern=PRINTABLE,
                                               description="Only parts scored by this model.")] = None,
    review: Annotated[ReviewState | None, Query(
        description="reviewed: a person labelled the part; unreviewed: nobody did yet.")] = None,
) -> InspectionFilter:
    """The inspection filters of a request (every one optional; all must hold)."""
    start, end = time_range(since, until)
    return InspectionFilter(since=start, until=end, station_id=station_id, serial=serial,
                            verdict=verdict, label=label, model_version=model_version, review=review)


FilterDep = Annotated[InspectionFilter, Depends(inspection_filter)]


def check_cursor(cursor: str | None, decode: Callable[[str], Any]) -> None:
    """A page cursor the store cannot read is the caller's mistake: 422 with the reason."""
    if cursor is None:
        return
    try:
        decode(cursor)
    except StoreError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from exc
