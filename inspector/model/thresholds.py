"""Choose verdict thresholds on a validation split: recall first, within a false-reject budget."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from inspector.errors import ConfigError, DatasetError
from inspector.model import metrics
from inspector.model.card import Thresholds

NG_FLOOR = 0.5  # NG never lies lower: a part the model thinks more likely good is never scrapped
GATE_FRR = 0.05  # a good-only gate's default expected share of new good parts sent to review
# Where NG sits above REVIEW (ThresholdRule.ng_rule): at the lowest val defect score above every val
# good part (a REVIEW band: the parts val cannot call sure go to a person), or at REVIEW (no band).
NG_ABOVE_GOOD = "above_val_good"
NG_AT_REVIEW = "at_review"
NG_RULES = (NG_ABOVE_GOOD, NG_AT_REVIEW)


@dataclass(frozen=True)
class ThresholdRule:
    """The stated goals: catch target_recall of defects; at most max_false_reject of new good parts
    rejected, as read from the good validation parts: expected (threshold_for_false_reject) when
    frr_confidence is 0, else shown at that one-sided confidence (threshold_for_false_reject_bound);
    and where NG sits (ng_rule: NG_ABOVE_GOOD, a REVIEW band below it, or NG_AT_REVIEW, none)."""

    target_recall: float = 0.99
    max_false_reject: float = 0.01
    frr_confidence: float = 0.0
    ng_rule: str = NG_ABOVE_GOOD

    def __post_init__(self) -> None:
        if not 0.0 < self.target_recall <= 1.0:
            raise ConfigError(f"target recall must lie in (0, 1], got {self.target_recall}")
        if not 0.0 <= self.max_false_reject < 1.0:
            raise ConfigError(f"false-reject budget must lie in [0, 1), got {self.max_false_reject}")
        if not 0.0 <= self.frr_confidence < 1.0:
            raise ConfigError(f"false-reject confidence must lie in [0, 1) (0: the expected rate), "
                              f"got {self.frr_confidence}")
        if self.ng_rule not in NG_RULES:
            raise ConfigError(f"ng_rule must be one of {', '.join(NG_RULES)}, got {self.ng_rule!r}")

    def false_reject_threshold(self, good_scores: np.ndarray) -> float:
        """The lowest threshold these good scores allow under the budget."""
        if self.frr_confidence > 0:
            return metrics.threshold_for_false_reject_bound(good_scores, self.max_false_reject,
                                                            self.frr_confidence)
        return metrics.threshold_for_false_reject(good_scores, self.max_false_reject)

    def within_budget(self, flagged: int, n_good: int) -> bool:
        """Whether `flagged` of `n_good` val good parts keep new good parts within the budget."""
        return self.false_reject_estimate(np.arange(n_good) < flagged) <= self.max_false_reject + 1e-12

    def false_reject_estimate(self, good_flagged: np.ndarray) -> float | None:
        """What these flagged good parts say of new ones, the way the budget reads it."""
        good_flagged = np.asarray(good_flagged, dtype=bool)
        if len(good_flagged) == 0:
            return None
        if self.frr_confidence > 0:
            return metrics.false_reject_bound(int(good_flagged.sum()), len(good_flagged), self.frr_confidence)
        return metrics.expected_false_reject(good_flagged)


def choose(is_defect: np.ndarray, scores: np.ndarray, rule: ThresholdRule,
           anomaly_scores: np.ndarray | None = None) -> Thresholds:
    """REVIEW at the lower of the recall threshold and the false-reject-budget threshold; NG by
    rule.ng_rule (scrap_threshold); with an OR-rule gate's val scores, its anomaly threshold too.

    When validation separates defects from good parts perfectly, the recall threshold sits at the
    lowest defect score — the top of the gap — and leaves no margin for the next defect. Lowering
    it to what the false-reject budget allows spends that budget on recall, which is what a line
    wants (a missed defect costs more than a part sent to review). NG stays where val shows the
    part is a defect: the scores between, where val saw good parts or nothing at all, go to a
    person rather than to scrap, and the reject figures (NG or REVIEW) are the same as without.
    """
    is_defect = np.asarray(is_defect, dtype=bool)
    scores = np.asarray(scores, dtype=np.float64)
    if not is_defect.any():
        return Thresholds(ng=NG_FLOOR, review=NG_FLOOR)
    review = metrics.threshold_for_recall(is_defect, scores, rule.target_recall)
    if (~is_defect).any():
        review = min(review, rule.false_reject_threshold(scores[~is_defect]))
    thresholds = at_review(float(min(max(review, 1e-6), 1.0)))
    if rule.ng_rule == NG_ABOVE_GOOD and (~is_defect).any():
        ng = scrap_threshold(scores[is_defect], scores[~is_defect])
        thresholds = dataclasses.replace(thresholds, ng=max(thresholds.ng, ng))
    if anomaly_scores is None:
        return thresholds
    good_flagged = scores[~is_defect] >= thresholds.review
    anomaly = or_gate_threshold(good_flagged, np.asarray(anomaly_scores)[~is_defect], rule)
    return dataclasses.replace(thresholds, anomaly=anomaly)


def scrap_threshold(defect_scores: np.ndarray, good_scores: np.ndarray) -> float:
    """NG under NG_ABOVE_GOOD: the lowest val defect score above every val good part.

    No val good part would be scrapped, and every val defect at or above it was scored higher than
    any good part: the station is sure there. Where val separates the two, the gap between them
    (scores val never saw) lies below NG; where no defect lies above the good parts, NG sits just
    above the highest good part.
    """
    top_good = float(np.max(good_scores))
    defect_scores = np.asarray(defect_scores, dtype=np.float64)
    above = defect_scores[defect_scores > top_good]
    ng = float(above.min()) if len(above) else float(np.nextafter(top_good, np.inf))
    return min(ng, 1.0)


def or_gate_threshold(good_flagged: np.ndarray, good_anomaly: np.ndarray, rule: ThresholdRule) -> float:
    """An OR-rule gate's anomaly threshold: it spends what the defect score's REVIEW left of the
    rule's false-reject budget, read the same way, on the val good parts REVIEW passes.

    So the good parts the two send to REVIEW together stay within the budget; where REVIEW spent
    it all, the gate sits just above every val good part REVIEW passes and fires only on parts
    more unusual than any of them (a blank frame, a part unlike every good one).
    """
    good_flagged = np.asarray(good_flagged, dtype=bool)
    passed = np.sort(np.asarray(good_anomaly, dtype=np.float64)[~good_flagged])[::-1]
    if len(passed) == 0:
        return 1.0
    n_good, k = len(good_flagged), int(good_flagged.sum())
    extra = 0
    while extra + 1 < len(passed) and rule.within_budget(k + extra + 1, n_good):
        extra += 1
    return float(min(np.nextafter(passed[extra], np.inf), 1.0))


def recorded_rule(card, target_recall: float | None = None, max_false_reject: float | None = None,
                  frr_confidence: float | None = None) -> ThresholdRule:
    """The rule a bundle's card says its thresholds were set by, with each value given here in its
    place; a card that recorded none gets the defaults (a gate's budget: GATE_FRR), and one that
    recorded no ng_rule (cards before the REVIEW band) gets today's, NG_ABOVE_GOOD."""
    recorded = dict((card.metrics or {}).get("threshold_rule") or {})
    if not recorded and card.recipe == "good-only":
        recorded = {"max_false_reject": GATE_FRR}
    given = {"target_recall": target_recall, "max_false_reject": max_false_reject,
             "frr_confidence": frr_confidence}
    recorded.update({k: v for k, v in given.items() if v is not None})
    known = {f.name for f in dataclasses.fields(ThresholdRule)}
    return ThresholdRule(**{k: v for k, v in recorded.items() if k in known})


def at_review(review: float) -> Thresholds:
    """The verdict thresholds for a REVIEW threshold: NG at max(review, NG_FLOOR)."""
    return Thresholds(ng=max(review, NG_FLOOR), review=review)


def gate_threshold(good_scores: np.ndarray, frr: float, confidence: float = 0.0) -> Thresholds:
    """A good-only gate's thresholds: it flags at most `frr` of new good parts (expected, or shown at
    `confidence`); never NG."""
    if len(good_scores) == 0:
        raise DatasetError("no good images to set the anomaly threshold on")
    rule = ThresholdRule(max_false_reject=frr, frr_confidence=confidence)
    thr = min(rule.false_reject_threshold(good_scores), 1.0)
    return Thresholds(ng=1.0, review=thr, anomaly=thr)


def budget_warning(good_scores: np.ndarray, review: float, rule: ThresholdRule) -> str | None:
    """Why a threshold set on these good scores cannot promise the rule's false-reject budget on new
    good parts, if it cannot (None when it keeps the budget)."""
    good_scores = np.asarray(good_scores, dtype=np.float64)
    n_good = len(good_scores)
    estimate = rule.false_reject_estimate(good_scores >= review)
    if estimate is None or estimate <= rule.max_false_reject + 1e-12:
        return None
    sure = f" at {rule.frr_confidence:.0%} confidence" if rule.frr_confidence > 0 else ""
    if rule.max_false_reject <= 0:
        why = "no number of good parts can promise a budget of 0"
    elif (best := rule.false_reject_estimate(np.zeros(n_good, dtype=bool))) > rule.max_false_reject:
        floor = f"{best:.3f}{sure}" if sure else f"1/{n_good + 1}"
        why = (f"{n_good} good val parts cannot show a rate below {floor}: collect at least "
               f"{_parts_needed(rule)} for this budget")
    else:
        why = f"the recall target ({rule.target_recall}) needs the lower threshold"
    says = "shows at most" if rule.frr_confidence > 0 else "expects"
    return (f"REVIEW at {review:.4g} {says} {estimate:.3f} of new good parts rejected{sure}, over "
            f"the budget {rule.max_false_reject}: {why}")


def val_warning(good_scores: np.ndarray, n_defect: int, review: float, rule: ThresholdRule) -> str | None:
    """What the val split cannot promise of a REVIEW threshold: the budget, the recall, or both."""
    said = [w for w in (budget_warning(good_scores, review, rule), recall_warning(n_defect, rule)) if w]
    return "; ".join(said) or None


def recall_warning(n_defect: int, rule: ThresholdRule) -> str | None:
    """Why this many validation defects cannot promise the recall target on new defects, if they
    cannot: even with all of them caught, a new one falls under the lowest with 1 / (n + 1)."""
    if n_defect <= 0 or n_defect / (n_defect + 1) >= rule.target_recall - 1e-12:
        return None
    needed = math.ceil(rule.target_recall / (1 - rule.target_recall) - 1e-9)
    return (f"{n_defect} val defects cannot show recall {rule.target_recall} on new defects (at best "
            f"{n_defect / (n_defect + 1):.3f} expected, all caught): collect at least {needed}")


def _parts_needed(rule: ThresholdRule) -> int:
    """Good parts, none flagged, that show the budget: (0 + 1) / (n + 1) <= b expected, or
    1 - (1 - c)^(1/n) <= b at confidence c."""
    b = rule.max_false_reject
    if rule.frr_confidence > 0:
        return math.ceil(math.log(1 - rule.frr_confidence) / math.log1p(-b) - 1e-9)
    return math.ceil(1 / b - 1 - 1e-9)
