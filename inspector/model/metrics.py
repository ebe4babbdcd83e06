"""Classification and inspection metrics in NumPy: F1, AUROC, recall/false-reject, thresholds."""

from __future__ import annotations

import math

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


def false_reject_bound(k: int, n: int, confidence: float) -> float:
    """One-sided upper confidence bound on the false-reject rate of new good parts when k of n
    good parts were flagged (Clopper-Pearson): the rate p at which k or fewer flagged of n would
    happen with probability 1 - confidence. 0 of 143 gives 0.0207 at 95 %; 2 of 143 gives 0.0433.
    """
    if not 0 <= k <= n or n <= 0:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k} n={n}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if k == n:
        return 1.0
    low, high = k / n, 1.0
    for _ in range(60):  # bisection: P(X <= k | p) falls as p grows
        mid = (low + high) / 2
        if _binomial_cdf(k, n, mid) > 1.0 - confidence:
            low = mid
        else:
            high = mid
    return high


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space so large n does not overflow."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
             for i in range(k + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def threshold_for_false_reject_bound(good_scores: np.ndarray, max_rate: float, confidence: float) -> float:
    """Lowest threshold at which these good scores show, at `confidence`, that new good parts are
    flagged at no more than max_rate: j may lie over it while false_reject_bound(j, n) <= max_rate.

    Stricter than threshold_for_false_reject's expected rate: a validation split's good tail can
    be lighter than the line's, and a bound on the rate holds against that luck where its mean
    does not. When no j passes (too few parts for the budget), no good score lies over it.
    """
    ranked = np.sort(np.asarray(good_scores, dtype=np.float64))[::-1]
    if len(ranked) == 0:
        raise ValueError("no good samples to choose a threshold from")
    allowed = 0
    while allowed + 1 < len(ranked) and false_reject_bound(allowed + 1, len(ranked), confidence) <= max_rate:
        allowed += 1
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


def expected_recall(defect_flagged: np.ndarray) -> float | None:
    """Defect recall to expect on new defects from k of these n caught: k / (n + 1).

    The mirror of expected_false_reject: with the threshold at the lowest of n defect scores, a new
    defect falls under all of them with probability 1 / (n + 1), so n / (n + 1) is the most n
    defects can promise (59 give 0.983: a 0.99 target needs at least 99 with none missed).
    """
    defect_flagged = np.asarray(defect_flagged, dtype=bool)
    if len(defect_flagged) == 0:
        return None
    return float(defect_flagged.sum() / (len(defect_flagged) + 1))


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
