"""GET /root-cause: which machine, parameter or pair of conditions goes with the defective parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from inspector.api.deps import EventsDep, SettingsDep
from inspector.api.filters import PRINTABLE, StationId, time_range
from inspector.api.schemas import RootCausePublic
from inspector.trace.rootcause import root_cause

router = APIRouter(prefix="/root-cause", tags=["root-cause"])

DEFAULT_WINDOW = timedelta(days=1)


@router.get("", response_model=RootCausePublic)
def get_root_cause(
    events: EventsDep,
    settings: SettingsDep,
    since: Annotated[datetime | None, Query(
        description="Window start, ISO 8601 (no zone = UTC); default 24 h before `until`.")] = None,
    until: Annotated[datetime | None, Query(
        description="Window end (exclusive); default now.")] = None,
    defect_class: Annotated[str | None, Query(
        max_length=64, pattern=PRINTABLE,
        description="Analyse one defect class instead of all NG parts.")] = None,
    station_id: StationId = None,
) -> RootCausePublic:
    """Ranked findings over inspected parts, each with the parts it rests on and a sentence.

    With too few parts or defects the answer has `status: insufficient_data` and no ranking.
    A window with no parts (the message says what the history spans) and a defect class no
    part of the window carries are 422.
    """
    since, until = time_range(since, until)  # in UTC; 422 when out of range or inverted
    end = until or datetime.now(UTC)
    try:
        start = since or end - DEFAULT_WINDOW
    except OverflowError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "until: too early to look 24 hours back from") from exc
    report = root_cause(events, start, end, defect_class, settings.root_cause, station_id)
    return RootCausePublic.of(report.to_dict())
