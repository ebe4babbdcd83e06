"""GET /fleet: every station feeding this database, its contact, lag, yield, model and camera."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from inspector.api.deps import InspectionsDep
from inspector.api.filters import Since, Until, time_range
from inspector.api.fleet_schemas import FleetPublic, FleetStationPublic
from inspector.api.routes.stats import _range as window  # /stats' defaults and bounds
from inspector.storage.fleet import FleetQueries
from inspector.storage.rollups import hour_of

router = APIRouter(prefix="/fleet", tags=["fleet"])

DEFAULT_STALE_S = 300.0  # a forwarder in good health reaches the central side every few seconds


@router.get("", response_model=FleetPublic,
            responses={422: {"description": "A bad time range or stale threshold."}})
def get_fleet(
    inspections: InspectionsDep,
    since: Since = None, until: Until = None,
    stale_after_s: Annotated[float, Query(
        gt=0, le=30 * 86400, description="A station whose last contact is older is stale.")]
        = DEFAULT_STALE_S,
) -> FleetPublic:
    """Each station: last contact (stale or not), forwarder lag, yield over [since, until)
    (default: the last 24 hours, whole UTC hours), active model and camera state."""
    start, end = window(*time_range(since, until))
    found = FleetQueries(inspections.engine).stations(start, end)
    now, stale_after = datetime.now(UTC), timedelta(seconds=stale_after_s)
    items = [FleetStationPublic.of(s, now, stale_after) for s in found]
    return FleetPublic(since=hour_of(start), until=end, stale_after_s=stale_after_s,
                       count=len(items), stale=sum(i.stale for i in items), items=items)
