"""Choose verdict thresholds on a validation split: recall first, within a false-reject budget."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.errors import DatasetError
from inspector.model import metrics
from inspector.model.card import Thresholds

NG_FLOOR = 0.5  # a part the model thinks more likely defective than good is NG, not REVIEW
GATE_FRR = 0.05  # a good-only gate's default expected share of new good parts sent to review


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
    return at_review(float(min(max(review, 1e-6), 1.0)))


def at_review(review: float) -> Thresholds:
    """The verdict thresholds for a REVIEW threshold: NG at max(review, NG_FLOOR)."""
    return Thresholds(ng=max(review, NG_FLOOR), review=review)


def gate_threshold(good_scores: np.ndarray, frr: float) -> Thresholds:
    """A good-only gate's thresholds: it expects to flag at most `frr` of new good parts; never NG."""
    if len(good_scores) == 0:
        raise DatasetError("no good images to set the anomaly threshold on")
    thr = min(metrics.threshold_for_false_reject(good_scores, frr), 1.0)
    return Thresholds(ng=1.0, review=thr, anomaly=thr)


def budget_warning(good_scores: np.ndarray, review: float, rule: ThresholdRule) -> str | None:
    """Why a threshold set on these good scores expects more false rejects on new good parts than
    the rule's budget, if it does (None when it keeps the budget)."""
    good_scores = np.asarray(good_scores, dtype=np.float64)
    n_good = len(good_scores)
    expected = metrics.expected_false_reject(good_scores >= review)
    if expected is None or expected <= rule.max_false_reject + 1e-12:
        return None
    if rule.max_false_reject <= 0:
        why = "no number of good parts can promise a budget of 0"
    elif 1 / (n_good + 1) > rule.max_false_reject:
        why = (f"{n_good} good val parts cannot show a rate below 1/{n_good + 1}: collect at least "
               f"{math.ceil(1 / rule.max_false_reject - 1 - 1e-9)} for this budget")
    else:
        why = f"the recall target ({rule.target_recall}) needs the lower threshold"
    return (f"REVIEW at {review:.4g} expects {expected:.3f} of new good parts rejected, over the "
            f"budget {rule.max_false_reject}: {why}")
