"""Typed dependencies of the routes: settings, stores, keys, audit log, the station and its models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from inspector.api.settings import ApiSettings
from inspector.bundles.manager import ModelManager
from inspector.control import StationControl
from inspector.storage.audit import AuditLog
from inspector.storage.events import EventStore
from inspector.storage.keys import KeyStore
from inspector.storage.rescoring import ScoreReader
from inspector.storage.review import ReviewStore
from inspector.storage.store import InspectionStore


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_inspections(request: Request) -> InspectionStore:
    return request.app.state.inspections


def get_events(request: Request) -> EventStore:
    return request.app.state.events


def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
InspectionsDep = Annotated[InspectionStore, Depends(get_inspections)]
EventsDep = Annotated[EventStore, Depends(get_events)]
KeysDep = Annotated[KeyStore, Depends(get_keys)]
AuditDep = Annotated[AuditLog, Depends(get_audit)]


def get_control(request: Request) -> StationControl | None:
    """The running station (None: `inspector serve` over a database alone)."""
    return request.app.state.control


def get_models_dir(request: Request) -> Path | None:
    return request.app.state.models_dir


def get_reviews(request: Request) -> ReviewStore:
    return ReviewStore(request.app.state.inspections.engine)


def get_scores(request: Request) -> ScoreReader:
    return ScoreReader(request.app.state.inspections.engine)


ControlDep = Annotated[StationControl | None, Depends(get_control)]
ModelsDirDep = Annotated[Path | None, Depends(get_models_dir)]
ReviewsDep = Annotated[ReviewStore, Depends(get_reviews)]
ScoresDep = Annotated[ScoreReader, Depends(get_scores)]


def get_model_manager(request: Request) -> ModelManager | None:
    """Swaps models on the running station (None without a station or a models folder)."""
    return request.app.state.model_manager


ModelManagerDep = Annotated[ModelManager | None, Depends(get_model_manager)]
