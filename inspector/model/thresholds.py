"""Choose verdict thresholds on a validation split: recall first, within a false-reject budget."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.errors import DatasetError
from inspector.model import metrics
from inspector.model.card import Thresholds

NG_FLOOR = 0.5  # a part the model thinks more likely defective than good is NG, not REVIEW
GATE_FRR = 0.05  # a good-only gate's default share of good parts it may send to review


@dataclass(frozen=True)
class ThresholdRule:
    """The stated goals: catch target_recall of defects; expect at most max_false_reject of new good
    parts rejected (estimated from the good validation parts, see threshold_for_false_reject)."""

    target_recall: float = 0.99
    max_false_reject: float = 0.01


def choose(is_defect: np.ndarray, scores: np.ndarray, rule: ThresholdRule) -> Thresholds:
    """REVIEW at the lower of the recall threshold and the false-reject-budget threshold.

    When validation separates defects from good parts perfectly, the recall threshold sits at the
    lowest defect score — the top of the gap — and leaves no margin for the next defect. Lowering
    it to what the false-reject budget allows spends that budget on recall, which is what a line
    wants (a missed defect costs more than a part sent to review).
    """
    is_defect = np.asarray(is_defect, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if not is_defect.any():
        return Thresholds(ng=NG_FLOOR, review=NG_FLOOR)
    review = metrics.threshold_for_recall(is_defect, scores, rule.target_recall)
    if (~is_defect).any():
        review = min(review, metrics.threshold_for_false_reject(scores[~is_defect], rule.max_false_reject))
    review = float(min(max(review, 1e-6), 1.0))
    return Thresholds(ng=max(review, NG_FLOOR), review=review)


def gate_threshold(good_scores: np.ndarray, frr: float) -> Thresholds:
    """A good-only gate's thresholds: it expects to flag at most `frr` of new good parts; never NG."""
    if len(good_scores) == 0:
        raise DatasetError("no good images to set the anomaly threshold on")
    thr = min(metrics.threshold_for_false_reject(good_scores, frr), 1.0)
    return Thresholds(ng=1.0, review=thr, anomaly=thr)
