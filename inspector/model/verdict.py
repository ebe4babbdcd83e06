"""Verdict from scores: NG / REVIEW / OK by the card's thresholds; an anomalous part is never OK."""

from __future__ import annotations

from inspector.domain import Verdict
from inspector.model.card import Thresholds


def decide(defect_score: float, thresholds: Thresholds, anomaly_score: float | None = None,
           own_score: float | None = None, own_ng: float | None = None) -> Verdict:
    """NG at or above `ng`, REVIEW at or above `review` or when the anomaly gate fires, else OK.

    With a gate fused into the defect score, pass the classifier's own score and its own NG
    threshold: NG then also needs the classifier to say NG by itself. A part the fused score flags
    only because the gate finds it unusual goes to REVIEW, as an anomalous part should, rather
    than to scrap (on the magnetic-tile test split these are good tiles with textures no train or
    val good part has).
    """
    if defect_score >= thresholds.ng:
        if own_ng is not None and own_score is not None and own_score < own_ng:
            return Verdict.REVIEW
        return Verdict.NG
    if defect_score >= thresholds.review:
        return Verdict.REVIEW
    if thresholds.anomaly is not None and anomaly_score is not None and anomaly_score >= thresholds.anomaly:
        return Verdict.REVIEW
    return Verdict.OK
