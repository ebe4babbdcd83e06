"""Typed dependencies of the routes: the settings, the stores, the key store and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from inspector.api.settings import ApiSettings
from inspector.storage.audit import AuditLog
from inspector.storage.events import EventStore
from inspector.storage.keys import KeyStore
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
