"""Response schemas of GET /stats: totals, Pareto, hourly and per-shift trends."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from inspector.storage.stats import Defect, StatsReport, Tally


class TallyPublic(BaseModel):
    """Parts of one group by verdict; rates are None when there are no parts."""

    parts: int
    ok: int
    review: int
    ng: int
    no_read: int = Field(description="Parts whose serial could not be read (serial_source no_read).")
    yield_: float | None = Field(alias="yield", description="OK parts / parts.")
    no_read_rate: float | None = Field(description="no_read / parts.")

    model_config = {"populate_by_name": True}

    @classmethod
    def fields_of(cls, t: Tally) -> dict[str, object]:
        return {"parts": t.parts, "ok": t.ok, "review": t.review, "ng": t.ng,
                "no_read": t.no_read, "yield": t.yield_, "no_read_rate": t.no_read_rate}

    @classmethod
    def of(cls, t: Tally) -> TallyPublic:
        return cls.model_validate(cls.fields_of(t))


class HourPublic(TallyPublic):
    hour: datetime = Field(description="Start of the UTC hour.")


class ShiftPublic(TallyPublic):
    shift: str
    start: datetime = Field(description="When this run of the shift started, in the shift time zone.")


class DefectPublic(BaseModel):
    label: str = Field(description="The model's class, or the status (no_frame, error...) without one.")
    parts: int
    review: int
    ng: int
    share: float = Field(description="Of all REVIEW and NG parts.")
    cumulative_share: float


class StatsPublic(BaseModel):
    """Production figures from the hourly rollups; the range is widened to whole UTC hours."""

    since: datetime
    until: datetime
    station_id: str | None
    total: TallyPublic
    counts: dict[str, int] = Field(description="Parts per verdict: OK, REVIEW, NG.")
    statuses: dict[str, int] = Field(description="Parts per record status (ok, no_frame, error...).")
    pareto: list[DefectPublic] = Field(description="REVIEW and NG parts by class, most first.")
    hourly: list[HourPublic] = Field(description="Hours with parts, oldest first.")
    shifts: list[ShiftPublic] = Field(description="Each run of a configured shift, oldest first.")

    @classmethod
    def of(cls, r: StatsReport) -> StatsPublic:
        t = r.total
        return cls(
            since=r.since, until=r.until, station_id=r.station_id, total=TallyPublic.of(t),
            counts={"OK": t.ok, "REVIEW": t.review, "NG": t.ng}, statuses=r.statuses,
            pareto=_pareto(r.pareto),
            hourly=[HourPublic.model_validate({"hour": h, **TallyPublic.fields_of(x)})
                    for h, x in r.hourly],
            shifts=[ShiftPublic.model_validate({"shift": s.name, "start": s.start,
                                                **TallyPublic.fields_of(x)}) for s, x in r.shifts],
        )


def _pareto(defects: list[Defect]) -> list[DefectPublic]:
    total = sum(d.parts for d in defects)
    out, running = [], 0
    for d in defects:
        running += d.parts
        out.append(DefectPublic(label=d.label, parts=d.parts, review=d.review, ng=d.ng,
                                share=d.parts / total, cumulative_share=running / total))
    return out
