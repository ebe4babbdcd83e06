"""GET /health: is the database reachable, and what each station last published (no auth)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from http import HTTPStatus

from fastapi import APIRouter, Request, Response

from inspector.api.deps import InspectionsDep
from inspector.api.schemas import HealthPublic, MqttPublic, StationPublic
from inspector.errors import StoreError

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
                        stations=[StationPublic.of(s, now) for s in statuses], mqtt=mqtt)
