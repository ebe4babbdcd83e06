"""create_app: the FastAPI app over an InspectionStore and EventStore, errors as JSON messages."""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from inspector.api.auth import Authorized
from inspector.api.bodylimit import BodyLimit
from inspector.api.dashboard import mount_dashboard
from inspector.api.openapi import document_errors
from inspector.api.routes import alerts as alert_routes
from inspector.api.routes import audit as audit_routes
from inspector.api.routes import events as events_routes
from inspector.api.routes import fleet, health, images, inspections, me, root_cause, serials, stats, uploads
from inspector.api.routes import metrics as metrics_routes
from inspector.api.routes import models as model_routes
from inspector.api.routes import review as review_routes
from inspector.api.routes import station as station_routes
from inspector.api.settings import ApiSettings
from inspector.bundles.manager import ModelManager
from inspector.errors import InspectorError, StoreError, TraceError
from inspector.storage.audit import AuditLog
from inspector.storage.events import EventStore
from inspector.storage.keys import KeyStore
from inspector.storage.store import InspectionStore

if TYPE_CHECKING:
    from inspector.control import StationControl
    from inspector.trace.mqtt import MqttEventSubscriber

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"  # every route; OpenAPI at /docs and /openapi.json


def create_app(
    store: InspectionStore, events: EventStore | None = None, settings: ApiSettings | None = None,
    mqtt: MqttEventSubscriber | None = None, control: StationControl | None = None,
    models_dir: Path | None = None,
) -> FastAPI:
    """The API app; `settings` default: ApiSettings() (every route but /health needs an API key).

    `mqtt`: the running event subscriber beside the server, whose counters /health shows.
    `control`: the running station in this process (None: the station-only routes answer 409);
    `models_dir`: the folder of model bundles that /models lists and activates from.

    The caller owns the stores (opens and closes them); the app only reads and writes through
    them, so the same app works over SQLite on a station and PostgreSQL in a plant.
    """
    app = FastAPI(title="Inspector", summary="Line-side visual inspection: parts, serials, "
                  "upstream process events and root cause.", version="1")
    app.state.inspections = store
    app.state.events = events if events is not None else EventStore(store.engine)
    app.state.settings = settings if settings is not None else ApiSettings()
    app.state.keys = KeyStore(store.engine)
    app.state.audit = AuditLog(store.engine)
    app.add_middleware(BodyLimit, limit=app.state.settings.max_body_bytes)
    app.state.mqtt = mqtt
    app.state.control, app.state.models_dir = control, models_dir
    app.state.model_manager = (ModelManager(models_dir, control)
                                if control is not None and models_dir is not None else None)
    for router in (model_routes.router, review_routes.router, station_routes.router,
                   metrics_routes.router):
        app.include_router(router, prefix=API_PREFIX, dependencies=Authorized)
    app.include_router(health.router, prefix=API_PREFIX)
    for router in (events_routes.router, serials.router, root_cause.router, inspections.router,
                   audit_routes.router, stats.router, images.router, me.router, fleet.router,
                   uploads.router, alert_routes.router):
        app.include_router(router, prefix=API_PREFIX, dependencies=Authorized)
    _add_error_handlers(app)
    document_errors(app)
    mount_dashboard(app)  # the pages at / (their data: the routes above)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InspectorError, _inspector_error)


def _message(status_code: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status_code)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Query or path parameters that do not validate: one readable message, `where: why`."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {str(err.get('msg', 'invalid')).removeprefix('Value error, ')}")
    return _message(HTTPStatus.UNPROCESSABLE_ENTITY, "; ".join(parts) or "invalid request")


async def _inspector_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, TraceError):
        return _message(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc))
    if isinstance(exc, StoreError):
        logger.error("%s %s: %s", request.method, request.url.path, exc)
        return _message(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
    return _message(HTTPStatus.BAD_REQUEST, str(exc))
