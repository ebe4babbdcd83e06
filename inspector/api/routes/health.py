"""GET /health: is the database reachable, and what each station last published (no auth)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from http import HTTPStatus

from fastapi import APIRouter, Request, Response

from inspector.api.deps import InspectionsDep
from inspector.api.schemas import ForwardPublic, HealthPublic, MqttPublic, StationPublic
from inspector.errors import StoreError
from inspector.storage.forward_queue import ForwardQueue
from inspector.storage.store import InspectionStore

router = APIRouter(prefix="/health", tags=["health"])


@router.get("", response_model=HealthPublic,
            responses={503: {"model": HealthPublic, "description": "Database unreachable."}})
def get_health(inspections: InspectionsDep, request: Request, response: Response) -> HealthPublic:
    """200 when the database answers (with the station_status rows), else 503.

    A server that subscribes to MQTT events also shows the subscriber's counters, so plant IT
    can see events arriving (or being refused) without reading logs.
    """
    subscriber = request.app.state.mqtt
    mqtt = None if subscriber is None else MqttPublic(**dataclasses.asdict(subscriber.stats()))
    try:
        statuses = inspections.station_statuses()
    except StoreError as exc:
        response.status_code = HTTPStatus.SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", db=False, db_url=inspections.url,
                            detail=str(exc), stations=[], mqtt=mqtt)
    now = datetime.now(UTC)
    return HealthPublic(status="ok", db=True, db_url=inspections.url,
                        stations=[StationPublic.of(s, now) for s in statuses], mqtt=mqtt,
                        forward=_forward(inspections, now))


def _forward(inspections: InspectionStore, now: datetime) -> ForwardPublic | None:
    """The forward queue's lag, when this database forwards (read fresh: another process may)."""
    try:
        lag = ForwardQueue(inspections.engine).lag()
    except StoreError:
        return None
    if not lag.enabled or lag.station_id is None:
        return None
    return ForwardPublic(station_id=lag.station_id, rows=lag.rows, lag_s=lag.seconds(now))
