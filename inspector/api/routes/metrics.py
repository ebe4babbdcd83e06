"""GET /metrics: Prometheus text for the running station, or for every station in the database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from inspector.api.auth import ViewerActor
from inspector.api.prometheus import StationCollector
from inspector.errors import InspectorError, StoreError
from inspector.storage.forward_queue import ForwardQueue

router = APIRouter(tags=["metrics"])


def _states(request: Request) -> list[tuple[str, dict[str, Any], str | None]]:
    """The station in this process, live; else what each station last published to the store.
    The forwarding station's figures get its forward queue's lag."""
    control = request.app.state.control
    store = request.app.state.inspections
    if control is not None:
        try:
            version = control.active_model().version
        except InspectorError:
            version = None
        states = [(control.station_id, control.status(), version)]
    else:
        states = [(s.station_id, s.state, None) for s in store.station_statuses()]
    try:
        lag = ForwardQueue(store.engine).lag()
    except StoreError:
        return states  # the station's own figures still answer while its database does not
    if not lag.enabled:
        return states
    if lag.station_id not in {station for station, _, _ in states}:
        states.append((lag.station_id, {}, None))
    return [(station, {**status, "forward_queue_rows": lag.rows,
                       "forward_lag_seconds": lag.seconds()}, version)
            if station == lag.station_id else (station, status, version)
            for station, status, version in states]


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}})
def metrics(request: Request, actor: ViewerActor) -> Response:
    """Capture fps, drops, queue depths, latency histograms, verdicts, no-reads, store lag,
    the active model and the camera, in the Prometheus text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StationCollector(lambda: _states(request)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
