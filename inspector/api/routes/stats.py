"""GET /stats: yield, verdicts, defect Pareto, hourly and shift trends, from the hourly rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from fastapi import APIRouter, HTTPException

from inspector.api.deps import InspectionsDep, SettingsDep
from inspector.api.filters import Since, StationId, Until, time_range
from inspector.api.stats_schemas import StatsPublic
from inspector.storage.stats import RollupStats

router = APIRouter(prefix="/stats", tags=["stats"])

DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=400)  # bounds the hourly list of one answer (~9,600 hours)


@router.get("", response_model=StatsPublic,
            responses={422: {"description": "A bad time range or station id."}})
def get_stats(
    inspections: InspectionsDep, settings: SettingsDep,
    since: Since = None, until: Until = None, station_id: StationId = None,
) -> StatsPublic:
    """Figures over [since, until) (default: the last 24 hours), widened to whole UTC hours.

    Read from the hourly rollup table, never by scanning the inspections, so a month of a
    busy line answers as fast as an hour.
    """
    start, end = _range(*time_range(since, until))
    try:
        report = RollupStats(inspections.engine).summary(start, end, station_id,
                                                         settings.stats.shift_of)
    except OverflowError as exc:  # an hour bucket or shift start beyond year 1..9999
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "since/until: too close to the ends of the date range") from exc
    return StatsPublic.of(report)


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The asked range with its defaults; 422 when it is empty or longer than MAX_SPAN."""
    try:
        end = until or datetime.now(UTC)
        start = since or end - DEFAULT_SPAN
    except OverflowError as exc:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            "until: too early to look 24 hours back from") from exc
    if end <= start:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"until ({end.isoformat()}) must be after since ({start.isoformat()})")
    if end - start > MAX_SPAN:
        raise HTTPException(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"the range may span at most {MAX_SPAN.days} days")
    return start, end
