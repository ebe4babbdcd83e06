"""Pydantic model of station.yaml's `api:` section: where the HTTP API listens and who may read."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from inspector.api.stats_config import StatsSection

MAX_BODY_BYTES = 16 * 1024 * 1024   # ~50,000 events of a typical size per POST


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiSection(_Model):
    """The HTTP API served by `inspector run` (beside the station) and `inspector serve`."""

    enabled: bool = Field(True, description="Serve the HTTP API beside the station.")
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=255,
        description="Address to listen on. Any address but loopback needs at least one API key "
        "(`inspector keys create`); 0.0.0.0 listens on every interface.",
    )
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port; the "
                      "address printed at start names it). Environment override: "
                      "INSPECTOR_API_PORT.")
    open_reads: bool = Field(
        False, description="Let anyone who reaches the API read without a key (writes, model "
        "changes and the audit log still need one). Off unless set explicitly.",
    )
    max_body_bytes: int = Field(
        MAX_BODY_BYTES, ge=1024, le=1024**3,
        description="Largest request body in bytes; a larger one is refused with 413.",
    )
    manual_trigger: bool = Field(
        False, description="Let POST /api/v1/trigger inspect the newest frame on a station whose "
        "trigger is not `external` (an operator's manual trigger). Off unless set explicitly.",
    )
    stats: StatsSection = Field(
        default_factory=StatsSection, description="Shift times and zone of /api/v1/stats.",
    )
