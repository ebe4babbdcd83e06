"""Schemas of the station routes: trigger requests and receipts, the station's live status."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters: they end up in rows, logs, CSV


class TriggerCreate(BaseModel):
    """A part announced by a PLC or MES: its serial, its own reference, free-form facts."""

    model_config = ConfigDict(extra="forbid")

    serial: str | None = Field(default=None, min_length=1, max_length=128, pattern=PRINTABLE,
                               description="The part's serial when the line knows it.")
    part_ref: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$",
        description="The line's own id of this part: a retry with the same part_ref (or "
        "Idempotency-Key header) returns the same part instead of a second one.")
    meta: dict[str, str | int | float | bool | None] | None = Field(
        default=None, max_length=32, description="Flat facts logged with the trigger.")


class TriggerPublic(BaseModel):
    part_id: str = Field(description="The part's id: its row appears under /inspections/{part_id}.")
    part_ref: str | None = None
    duplicate: bool = Field(description="True when this part_ref was announced before.")


class StationStatusPublic(BaseModel):
    station_id: str
    model_version: str | None
    status: dict[str, Any] = Field(description="The station's metrics (the status line's figures).")
