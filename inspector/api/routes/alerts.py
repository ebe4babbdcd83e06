"""GET /alerts: the predictive alerts the station's rate monitors raised (viewers may read them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from inspector.api.alert_schemas import AlertPublic, AlertsPublic
from inspector.api.auth import ViewerActor
from inspector.api.filters import StationId, check_cursor, time_range
from inspector.storage.alerts import MAX_ALERT_PAGE, AlertStore, decode_alert_cursor

router = APIRouter(prefix="/alerts", tags=["alerts"])


def get_alerts(request: Request) -> AlertStore:
    """The alerts table of the API's database (an AlertStore only wraps the engine)."""
    return AlertStore(request.app.state.inspections.engine)


@router.get("", response_model=AlertsPublic,
            responses={401: {"description": "No valid API key."}})
def list_alerts(
    alerts: Annotated[AlertStore, Depends(get_alerts)],
    actor: ViewerActor,
    limit: Annotated[int, Query(ge=1, le=MAX_ALERT_PAGE, description="Alerts per page.")] = 100,
    cursor: Annotated[str | None, Query(
        max_length=64, description="`next_cursor` of the previous page (same filters).")] = None,
    station_id: StationId = None,
    active: Annotated[bool | None, Query(
        description="true: only alerts still raised; false: only cleared ones.")] = None,
    since: Annotated[datetime | None, Query(
        description="Raised at or after, ISO 8601 (no zone = UTC).")] = None,
    until: Annotated[datetime | None, Query(description="Raised before.")] = None,
) -> AlertsPublic:
    """One page of alerts, newest first, each with what it rests on."""
    check_cursor(cursor, decode_alert_cursor)
    since, until = time_range(since, until)
    page, next_cursor = alerts.list(limit=limit, cursor=cursor, station_id=station_id,
                                    active=active, since=since, until=until)
    items = [AlertPublic.model_validate(a, from_attributes=True) for a in page]
    return AlertsPublic(items=items, count=len(items), next_cursor=next_cursor)
