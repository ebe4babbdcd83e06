"""Verdict from scores: NG / REVIEW / OK by the card's thresholds; an anomalous part is never OK."""

from __future__ import annotations

from inspector.domain import Verdict
from inspector.model.card import Thresholds


def decide(defect_score: float, thresholds: Thresholds, anomaly_score: float | None = None) -> Verdict:
    """NG at or above `ng`, REVIEW at or above `review` or when the anomaly gate fires, else OK."""
    if defect_score >= thresholds.ng:
        return Verdict.NG
    if defect_score >= thresholds.review:
        return Verdict.REVIEW
    if thresholds.anomaly is not None and anomaly_score is not None and anomaly_score >= thresholds.anomaly:
        return Verdict.REVIEW
    return Verdict.OK
