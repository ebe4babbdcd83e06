"""GET /root-cause: which machine, step or parameter goes with the defective parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from inspector.api.deps import EventsDep, SettingsDep
from inspector.api.schemas import RootCausePublic
from inspector.api.timeutil import as_utc
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
        max_length=64, description="Analyse one defect class instead of all NG parts.")] = None,
) -> RootCausePublic:
    """Ranked findings over inspected parts; says how many parts they rest on.

    With too few parts or defects the answer has `status: insufficient_data` and no ranking.
    """
    end = as_utc(until) if until is not None else datetime.now(UTC)
    start = as_utc(since) if since is not None else end - DEFAULT_WINDOW
    report = root_cause(events, start, end, defect_class, settings.root_cause)
    return RootCausePublic.of(report.to_dict())
