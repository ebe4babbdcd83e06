"""The stored scores of the last parts, read for re-applying thresholds (rows are never rewritten)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import inspections

MAX_RESCORE_PARTS = 100_000  # largest last_n a re-threshold may read


@dataclass(frozen=True)
class ScoredRow:
    """What a verdict was decided from, and the verdict the line was told."""

    part_id: str
    serial: str
    inspected_at: datetime
    status: str                       # only "ok" rows were judged by the model
    verdict: str
    defect_score: float | None
    anomaly_score: float | None
    scores: Mapping[str, float] = field(default_factory=dict)
    model_version: str | None = None


class ScoreReader(DatabaseAccess):
    """Reads the newest rows' scores; the threshold dry run and its application use it."""

    def last_scored(self, n: int, station_id: str | None = None,
                    model_version: str | None = None) -> list[ScoredRow]:
        """The last `n` parts (newest first), of one station and model version when given."""
        c = inspections.c
        stmt = select(c.part_id, c.serial, c.inspected_at, c.status, c.verdict, c.defect_score,
                      c.anomaly_score, c.scores, c.model_version)
        if station_id is not None:
            stmt = stmt.where(c.station_id == station_id)
        if model_version is not None:
            stmt = stmt.where(c.model_version == model_version)
        stmt = stmt.order_by(c.inspected_at.desc(), c.id.desc()).limit(max(0, n))
        with self._connection("read scores from") as conn:
            rows = conn.execute(stmt).mappings().all()
        return [ScoredRow(**{**dict(r), "scores": dict(r["scores"] or {})}) for r in rows]
