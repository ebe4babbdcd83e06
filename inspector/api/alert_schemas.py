"""Response schemas of GET /alerts: each alert with the parts, defects and statistic it rests on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AlertPublic(BaseModel):
    """A predictive alert: a monitor found a rate rising, on this evidence."""

    id: int
    raised_at: datetime
    cleared_at: datetime | None = Field(description="When the rate was back at its baseline "
                                        "(null: still raised).")
    station_id: str | None
    monitor: str = Field(description="defect_rate: a Bernoulli CUSUM on the defect rate.")
    subject: str = Field(description="What is watched, e.g. 'crack rate at station-1'.")
    defect_class: str | None = Field(description="null: every NG part.")
    message: str = Field(description="The alert in one sentence, with its evidence.")
    statistic: float = Field(description="The CUSUM when it raised.")
    threshold: float = Field(description="h: the CUSUM's alert level.")
    baseline: float = Field(description="The rate it compares with.")
    current: float = Field(description="The rate of the parts since the rise began.")
    parts: int = Field(description="Parts since the rise began (where the CUSUM left 0).")
    defects: int
    first_serial: str | None = Field(description="First part of the rise.")
    last_serial: str | None = Field(description="The part that raised it.")
    evidence: dict[str, Any] = Field(description="The design: method, p1, shift, horizon_parts, "
                                     "false_alarm, arl0_parts, parts_monitored.")


class AlertsPublic(BaseModel):
    """One page of alerts, newest first; pass `next_cursor` back as `cursor`."""

    items: list[AlertPublic]
    count: int
    next_cursor: str | None
