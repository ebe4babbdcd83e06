"""Response schema of GET /fleet: each station's contact, forwarder lag, yield, model and camera."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from inspector.storage.fleet import FleetStation


class FleetStationPublic(BaseModel):
    """One station as the central side sees it; None where nothing is known yet."""

    station_id: str
    api_url: str | None = Field(description="Where its API answers (images are fetched there).")
    registered: bool = Field(description="True once its forwarder has reached this database.")
    first_contact_at: datetime | None
    last_contact_at: datetime | None = Field(
        description="Its forwarder's last contact (its status row's time when it has no "
        "forwarder and writes here directly).")
    stale: bool = Field(description="No contact for longer than stale_after_s (or never).")
    lag_rows: int | None = Field(description="Rows its forwarder still had to send.")
    lag_seconds: float | None = Field(description="Age of the oldest row still to send.")
    forwarder: dict[str, Any] = Field(description="The forwarder's own state (batch, errors).")
    status_at: datetime | None = Field(description="When its status row was last written.")
    model_version: str | None = Field(
        description="Active model: the status row's, else the model of its newest part.")
    camera_state: str | None
    camera_online: bool | None
    alarms: list[str] = Field(description="Alarms its status row lists as raised.")
    parts: int = Field(description="Parts over the window (hourly rollups).")
    ok: int
    review: int
    ng: int
    yield_: float | None = Field(alias="yield", description="OK parts / parts over the window.")

    model_config = {"populate_by_name": True}

    @classmethod
    def of(cls, s: FleetStation, now: datetime, stale_after: timedelta) -> FleetStationPublic:
        reg, status = s.registration, s.status or {}
        last = s.last_contact_at
        return cls.model_validate({
            "station_id": s.station_id, "api_url": reg.api_url if reg else None,
            "registered": reg is not None,
            "first_contact_at": reg.first_contact_at if reg else None, "last_contact_at": last,
            "stale": last is None or now - last > stale_after,
            "lag_rows": reg.lag_rows if reg else None,
            "lag_seconds": reg.lag_seconds if reg else None,
            "forwarder": reg.forwarder if reg else {}, "status_at": s.status_at,
            "model_version": _text(status.get("model_version")) or s.last_model_version,
            "camera_state": _text(status.get("camera_state")),
            "camera_online": status.get("camera_online") if isinstance(
                status.get("camera_online"), bool) else None,
            "alarms": [a for a in status.get("alarms") or [] if isinstance(a, str)],
            "parts": s.counts.parts, "ok": s.counts.ok, "review": s.counts.review,
            "ng": s.counts.ng, "yield": s.counts.yield_,
        })


class FleetPublic(BaseModel):
    since: datetime = Field(description="Start of the yield window (whole UTC hours).")
    until: datetime
    stale_after_s: float
    count: int
    stale: int = Field(description="How many stations are stale.")
    items: list[FleetStationPublic]


def _text(value: object) -> str | None:
    """A status field that is a non-empty string (the row is a station's JSON: trust no shape)."""
    return value if isinstance(value, str) and value else None
