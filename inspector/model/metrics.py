"""Classification and inspection metrics in NumPy: F1, AUROC, recall/false-reject, thresholds."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class_scores(cm: np.ndarray, classes: list[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class from a confusion matrix."""
    out = {}
    for i, name in enumerate(classes):
        tp = float(cm[i, i])
        pred, true = float(cm[:, i].sum()), float(cm[i, :].sum())
        precision = tp / pred if pred else 0.0
        recall = tp / true if true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"precision": precision, "recall": recall, "f1": f1, "support": int(true)}
    return out


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the truth."""
    scores = per_class_scores(cm, [str(i) for i in range(cm.shape[0])])
    present = [s["f1"] for s in scores.values() if s["support"] > 0]
    return float(np.mean(present)) if present else 0.0


def auroc(is_defect: np.ndarray, score: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties counted half); None if one class is absent."""
    is_defect = np.asarray(is_defect, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    pos, neg = score[is_defect], score[~is_defect]
    if len(pos) == 0 or len(neg) == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    # Average ranks over ties so equal scores count half.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    rank_sum = ranks[is_defect].sum()
    return float((rank_sum - len(pos) * (len(pos) + 1) / 2.0) / (len(pos) * len(neg)))


def threshold_for_recall(is_defect: np.ndarray, score: np.ndarray, target: float) -> float:
    """Highest threshold whose recall (score >= threshold) on defects reaches the target."""
    defect_scores = np.sort(np.asarray(score, dtype=np.float64)[np.asarray(is_defect, dtype=bool)])
    if len(defect_scores) == 0:
        raise ValueError("no defect samples to choose a threshold from")
    allowed_misses = int(np.floor((1.0 - target) * len(defect_scores) + 1e-9))
    return float(defect_scores[allowed_misses])


def flag_rates(is_defect: np.ndarray, flagged: np.ndarray) -> tuple[float | None, float | None]:
    """(defect recall, false-reject rate) for a boolean 'flagged as not OK' array."""
    is_defect = np.asarray(is_defect, dtype=bool)
    flagged = np.asarray(flagged, dtype=bool)
    recall = float(flagged[is_defect].mean()) if is_defect.any() else None
    frr = float(flagged[~is_defect].mean()) if (~is_defect).any() else None
    return recall, frr


def misjudged(names: list[str], is_defect: np.ndarray, flagged: np.ndarray) -> dict[str, list[str]]:
    """The parts behind the two error rates, by name: defects let through, good parts flagged."""
    pairs = list(zip(names, np.asarray(is_defect, dtype=bool), np.asarray(flagged, dtype=bool), strict=True))
    return {"missed_defects": [n for n, d, f in pairs if d and not f],
            "false_rejects": [n for n, d, f in pairs if f and not d]}


def threshold_for_false_reject(good_scores: np.ndarray, max_rate: float) -> float:
    """Lowest threshold whose expected false-reject rate on new good parts stays within max_rate.

    The budget is on parts the line has not made yet, not on these scores: a new good part scores
    above the (j+1)-th highest of n good scores with probability (j+1)/(n+1), so j of them may lie
    over the threshold only while (j+1)/(n+1) <= max_rate. Counting the share of these scores
    instead (j = max_rate * n) lets a 1% budget on 143 parts put one over the threshold, which
    expects 1.4% on new parts. When n is too small for the budget, no good score lies over it.
    """
    ranked = np.sort(np.asarray(good_scores, dtype=np.float64))[::-1]
    if len(ranked) == 0:
        raise ValueError("no good samples to choose a threshold from")
    allowed = max(int(np.floor(max_rate * (len(ranked) + 1) + 1e-9)) - 1, 0)
    if allowed >= len(ranked):
        return 0.0
    return float(np.nextafter(ranked[allowed], np.inf))


def expected_false_reject(good_flagged: np.ndarray) -> float | None:
    """False-reject rate to expect on new good parts from k of these n flagged: (k + 1) / (n + 1).

    Exact when the threshold was set on these same n scores (a new part lands above the highest
    of 143 with probability 1/144, where k / n says 0); on parts the threshold was not set on it
    errs high by at most 1 / (n + 1), the safe side for a line's planning.
    """
    good_flagged = np.asarray(good_flagged, dtype=bool)
    if len(good_flagged) == 0:
        return None
    return float((good_flagged.sum() + 1) / (len(good_flagged) + 1))


def score_margin(is_defect: np.ndarray, score: np.ndarray) -> float | None:
    """Gap between the lowest defect and the highest good score, in logits (> 0: fully separated).

    Unlike AUROC this keeps measuring once a split is perfectly separated, so it can rank models
    that all score 1.0 on a small validation split; logits keep scores near 0 and 1 apart.
    """
    is_defect = np.asarray(is_defect, dtype=bool)
    p = np.clip(np.asarray(score, dtype=np.float64), 1e-6, 1 - 1e-6)
    if not is_defect.any() or is_defect.all():
        return None
    logit = np.log(p) - np.log1p(-p)
    return float(logit[is_defect].min() - logit[~is_defect].max())
