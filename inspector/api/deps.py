"""Typed dependencies of the routes: the stores, the settings and the bearer-token check."""

from __future__ import annotations

import hmac
from http import HTTPStatus
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from inspector.api.settings import ApiSettings
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


def get_inspections(request: Request) -> InspectionStore:
    return request.app.state.inspections


def get_events(request: Request) -> EventStore:
    return request.app.state.events


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
InspectionsDep = Annotated[InspectionStore, Depends(get_inspections)]
EventsDep = Annotated[EventStore, Depends(get_events)]


def require_token(
    settings: SettingsDep,
    authorization: Annotated[str | None, Header(description="Bearer <token>")] = None,
) -> None:
    """With a token configured, the request must carry `Authorization: Bearer <token>`."""
    if settings.token is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    # compare_digest: the time taken must not tell how many leading characters were right
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             settings.token.encode()):
        raise HTTPException(
            HTTPStatus.UNAUTHORIZED,
            "missing or wrong bearer token (send `Authorization: Bearer <token>`)",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = [Depends(require_token)]
