"""What moves between the pipeline threads (Job, Outcome) and how inspection rows are built."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from inspector.domain import Inspection, Prediction, Status, Trigger, Verdict
from inspector.model.card import ModelCard
from inspector.pipeline.serial_hook import PartSerial

# A part the model did not judge is never OK: a person (or a rerun) must look at it.
UNJUDGED_VERDICT = Verdict.REVIEW


@dataclass(frozen=True)
class Routing:
    """The verdict of each kind of part the model did not judge (config: `verdicts:`)."""

    bad_image: Verdict = Verdict.REVIEW
    late: Verdict = Verdict.REVIEW

    def verdict(self, status: Status) -> Verdict:
        """The configured verdict of this status, REVIEW for the others (unjudged_row refuses OK)."""
        return getattr(self, status.value, UNJUDGED_VERDICT)


@dataclass(frozen=True)
class Job:
    """One triggered part waiting for the model; its serial is read off the trigger thread."""

    trigger: Trigger
    serial: PartSerial | None  # None until the inference thread (or a failure row) reads it
    queued_mono: float


@dataclass(frozen=True)
class Outcome:
    """A finished row plus the pixels the store writer may archive with it."""

    row: Inspection
    image: np.ndarray | None = None
    heatmap: np.ndarray | None = None


@dataclass(frozen=True)
class ModelInfo:
    """The model facts copied into every row."""

    version: str | None = None
    threshold_ng: float | None = None
    threshold_review: float | None = None

    @classmethod
    def from_card(cls, card: ModelCard | None) -> ModelInfo:
        if card is None:
            return cls()
        return cls(card.version, card.thresholds.ng, card.thresholds.review)


def _part_fields(station_id: str, job: Job, model: ModelInfo) -> dict:
    """What every row of a triggered part carries, judged or not."""
    trigger, frame = job.trigger, job.trigger.frame
    if job.serial is None:
        raise ValueError(f"part {trigger.part_id}: serial not resolved before its row was built")
    return {
        "part_id": trigger.part_id,
        "station_id": station_id,
        "serial": job.serial.serial,
        "serial_source": job.serial.source,
        "captured_at": frame.t_utc if frame is not None else trigger.t_utc,
        "inspected_at": datetime.now(UTC),
        "model_version": model.version,
        "threshold_ng": model.threshold_ng,
        "threshold_review": model.threshold_review,
        "source_ref": frame.ref if frame is not None else None,
        "part_ref": trigger.part_ref,
    }


def inspected_row(station_id: str, job: Job, pred: Prediction, model: ModelInfo) -> Inspection:
    """The row of a part the model judged."""
    frame = job.trigger.frame
    latency = None if frame is None else (time.monotonic() - frame.t_mono) * 1000.0
    return Inspection(
        **_part_fields(station_id, job, model),
        status=Status.OK,
        verdict=pred.verdict,
        label=pred.label,
        defect_score=float(pred.defect_score),
        anomaly_score=None if pred.anomaly_score is None else float(pred.anomaly_score),
        scores={str(k): float(v) for k, v in pred.scores.items()},
        latency_ms=latency,
    )


def unjudged_row(
    station_id: str, job: Job, status: Status, error: str, model: ModelInfo,
    verdict: Verdict = UNJUDGED_VERDICT,
) -> Inspection:
    """The row of a part without a model verdict (no_frame, bad_image, late, ...): never OK."""
    if verdict is Verdict.OK:
        raise ValueError(f"part {job.trigger.part_id}: a part the model did not judge cannot be OK")
    return Inspection(
        **_part_fields(station_id, job, model),
        status=status,
        verdict=verdict,
        error=error[:2000],
    )
