"""Response schemas of the API (the create schema of an event is trace.ingest.EventIn)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from inspector.domain import Inspection
from inspector.storage.events import ProcessEvent
from inspector.storage.store import StationStatus
from inspector.trace.ingest import IngestResult

Param = float | int | str


class EventErrorPublic(BaseModel):
    index: int = Field(description="Position of the rejected event in the posted array (0-based).")
    message: str


class IngestPublic(BaseModel):
    """What happened to a posted batch."""

    received: int
    stored: int = Field(description="Events new to the database.")
    duplicates: int = Field(description="Events already stored (same serial, machine, step, time).")
    revised: int = Field(default=0, description="Stored events replaced by a corrected version "
                         "(same serial, machine, step, time; other parameters); the earlier one "
                         "is kept as a revision.")
    rejected: int = Field(description="Invalid events; none of their fields were stored.")
    errors: list[EventErrorPublic] = Field(description="Why events were rejected (first 100).")

    @classmethod
    def of(cls, result: IngestResult) -> IngestPublic:
        errors = [EventErrorPublic(index=e.index, message=e.message) for e in result.errors]
        return cls(received=result.received, stored=result.stored, duplicates=result.duplicates,
                   revised=result.revised, rejected=result.rejected, errors=errors)


class EventPublic(BaseModel):
    serial: str
    machine: str
    step: str
    timestamp: datetime
    parameters: dict[str, Param]
    received_at: datetime | None = None

    @classmethod
    def of(cls, e: ProcessEvent) -> EventPublic:
        return cls(serial=e.serial, machine=e.machine, step=e.step, timestamp=e.ts,
                   parameters=dict(e.parameters), received_at=e.received_at)


class EventsPublic(BaseModel):
    serial: str
    count: int
    items: list[EventPublic] = Field(description="Oldest first.")


class InspectionPublic(BaseModel):
    part_id: str
    station_id: str
    serial: str
    serial_source: str
    captured_at: datetime | None
    inspected_at: datetime
    status: str
    verdict: str
    label: str | None = None
    defect_score: float | None = None
    anomaly_score: float | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    model_version: str | None = None
    threshold_ng: float | None = None
    threshold_review: float | None = None
    image_path: str | None = None
    heatmap_path: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    review_label: str | None = None

    @classmethod
    def of(cls, ins: Inspection) -> InspectionPublic:
        data = {name: getattr(ins, name) for name in cls.model_fields}
        data["scores"] = dict(ins.scores)
        return cls.model_validate(data)


class InspectionsPublic(BaseModel):
    """One page, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[InspectionPublic]
    count: int
    next_cursor: str | None


class GenealogyPublic(BaseModel):
    serial: str
    inspections: list[dict[str, Any]] = Field(description="Oldest first.")
    events: list[dict[str, Any]] = Field(description="Oldest first.")
    timeline: list[dict[str, Any]] = Field(
        description="Events and inspections merged in time order: {at, kind, what, details}."
    )


class BinPublic(BaseModel):
    label: str
    parts: int
    defects: int
    rate: float
    lift: float | None


class FindingPublic(BaseModel):
    kind: str = Field(description="machine | machine_step | parameter | combination (two "
                      "conditions together)")
    name: str
    parts: int = Field(description="Parts this finding rests on.")
    defects: int
    status: str
    test: str | None = None
    p_value: float | None = None
    q_value: float | None = None
    effect: float | None = None
    lift: float | None = None
    worst: str | None = None
    significant: bool = False
    bins: list[BinPublic] = Field(default_factory=list)
    rank_biserial: float | None = None
    note: str = ""
    conditions: list[str] = Field(default_factory=list, description="The suspect group, e.g. "
                                  "['pressing.lot = L7', 'pressing.dwell_s < 1.8'].")
    group_parts: int | None = Field(None, description="Parts in the suspect group.")
    group_defects: int | None = None
    rest_rate: float | None = Field(None, description="Defect rate of the parts compared with.")
    risk_ratio: float | None = Field(None, description="Group rate / rest rate (0.5 added per "
                                     "defect cell); non-significant findings are ordered by it.")
    advice: str = Field("", description="The finding in one sentence, with its evidence.")
    where: list[str] = Field(default_factory=list, description=(
        "The suspect group as inspection filters with exact numbers: GET /inspections with "
        "each as a `condition` (and this window's since/until) lists the parts it rests on."))


class DataIssuePublic(BaseModel):
    parameter: str
    issue: str = Field(description="mixed_types")
    message: str


class RecordedChangePublic(BaseModel):
    machine: str = Field(description="The machine that recorded the setting.")
    parameter: str = Field(description="'step.name', e.g. 'grinding.tool'.")
    before: str
    after: str
    part: int = Field(description="Index (in the window's parts) of the first part with `after`.")
    serial: str


class ChangePointPublic(BaseModel):
    """A step in one machine's defect rate over its part sequence."""

    machine: str
    steps: list[str]
    defect_class: str | None
    direction: str = Field(description="rise | fall")
    position: int = Field(description="First part at the new rate, in the machine's order.")
    serial: str = Field(description="That part's serial.")
    part: int
    estimate: int = Field(description="Where the defects alone put the change (machine order).")
    parts_before: int
    defects_before: int
    parts_after: int
    defects_after: int
    rate_before: float
    rate_after: float
    ratio: float = Field(description="Rate after / rate before (0.5 added per defect count).")
    statistic: float = Field(description="Largest distance of the defects' positions from an "
                             "even spread (CUSUM, 0..1).")
    p_value: float
    q_value: float = Field(description="x 2 x machines searched (a family at alpha/2).")
    significant: bool
    test: str
    change: RecordedChangePublic | None = Field(
        None, description="The recorded setting change it follows (tool, lot, recipe).")
    lag: int | None = Field(None, description="Parts from that change to `estimate`.")
    advice: str = Field("", description="The change point in one sentence, with its evidence.")


class RootCausePublic(BaseModel):
    """Ranked findings; `status` is `insufficient_data` (and `ranked` empty) when data are few."""

    since: datetime | None
    until: datetime | None
    defect_class: str | None
    parts: int
    defects: int
    defect_rate: float
    status: str
    message: str
    alpha: float
    tests: int
    correction: str
    seconds: float
    ranked: list[FindingPublic]
    not_tested: list[FindingPublic]
    data_issues: list[DataIssuePublic] = Field(default_factory=list)
    combinations_tested: int = Field(0, description="Two-condition groups searched (in `tests`).")
    changes: list[ChangePointPublic] = Field(
        default_factory=list, description="Steps in a machine's defect rate over its part "
        "sequence, lined up with setting changes; significant first.")
    changes_message: str = Field("", description="What the change-point search covered.")

    @classmethod
    def of(cls, report_dict: dict[str, Any]) -> RootCausePublic:
        return cls.model_validate(finite(report_dict))


class StationPublic(BaseModel):
    station_id: str
    updated_at: datetime
    age_s: float = Field(description="Seconds since the station last published its state.")
    state: dict[str, Any]

    @classmethod
    def of(cls, s: StationStatus, now: datetime) -> StationPublic:
        return cls(station_id=s.station_id, updated_at=s.updated_at,
                   age_s=round((now - s.updated_at).total_seconds(), 3), state=s.state)


class MqttPublic(BaseModel):
    """The MQTT event subscriber's counters since the server started."""

    connected: bool = Field(description="Subscribed at the broker right now.")
    messages: int
    bad_payloads: int
    events: int
    bad_events: int
    stored: int
    duplicates: int
    dropped: int
    queue_depth: int


class ForwardPublic(BaseModel):
    """How far the central database is behind this station's (store-and-forward)."""

    station_id: str = Field(description="The station whose rows are forwarded.")
    rows: int = Field(description="Rows written here and not yet in the central database.")
    lag_s: float = Field(description="Seconds since the oldest of them was written (0: none).")


class HealthPublic(BaseModel):
    status: str = Field(description="ok | unavailable")
    db: bool = Field(description="The database answered.")
    db_url: str
    detail: str | None = None
    stations: list[StationPublic]
    mqtt: MqttPublic | None = Field(default=None, description="Only when the server subscribes.")
    forward: ForwardPublic | None = Field(
        default=None, description="Only when this database forwards to a central one.")


def finite(value: Any) -> Any:
    """NaN and infinity as None: JSON has no such numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class AuditEntryPublic(BaseModel):
    """One recorded change: who, when, what, before -> after."""

    id: int
    at: datetime
    station_id: str | None = Field(description="The station it happened on (None: a central server).")
    actor: str = Field(description="The API key's name, or `cli:<user>` for a local command.")
    action: str = Field(description="What was done, e.g. `key.create`, `key.revoke`.")
    target: str | None = Field(description="What it was done to: a key id, a model, a part id.")
    before: Any = Field(description="The state before (null: nothing there).")
    after: Any = Field(description="The state after (null: removed).")


class AuditPublic(BaseModel):
    """One page of the audit log, newest first; pass `next_cursor` back as `cursor`."""

    items: list[AuditEntryPublic]
    count: int
    next_cursor: str | None


class ErrorPublic(BaseModel):
    """Every error answer (4xx, 5xx) of the API: one readable message."""

    detail: str = Field(description="What went wrong and, where it helps, what to send instead.")
