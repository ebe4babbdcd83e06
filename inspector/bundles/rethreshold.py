"""Re-apply NG/REVIEW(/anomaly) thresholds to stored scores: counts before/after and the flips."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from inspector.domain import Status, Verdict
from inspector.model.card import ModelCard, Thresholds
from inspector.model.verdict import decide
from inspector.storage.rescoring import ScoredRow

MAX_FLIPS_LISTED = 1000


@dataclass(frozen=True)
class Flip:
    """A part whose verdict the new thresholds would change."""

    part_id: str
    serial: str
    inspected_at: datetime
    defect_score: float
    anomaly_score: float | None
    before: str
    after: str


@dataclass(frozen=True)
class RethresholdReport:
    """What the thresholds would have said about the parts: unjudged rows never change."""

    parts: int
    judged: int                      # rows the model scored (status ok, with a defect score)
    before: dict[str, int]
    after: dict[str, int]
    flips: list[Flip]                # oldest first, at most MAX_FLIPS_LISTED
    flips_total: int


def rethreshold(rows: list[ScoredRow], thresholds: Thresholds,
                card: ModelCard | None = None) -> RethresholdReport:
    """The verdicts `thresholds` give the rows' stored scores (the card's fusion rule applied)."""
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    flips: list[Flip] = []
    judged = 0
    for row in sorted(rows, key=lambda r: r.inspected_at):
        new = _verdict(row, thresholds, card)
        judged += new is not None
        new_value = row.verdict if new is None else new.value
        before[row.verdict] += 1
        after[new_value] += 1
        if new_value != row.verdict:
            flips.append(Flip(row.part_id, row.serial, row.inspected_at, float(row.defect_score or 0),
                              row.anomaly_score, row.verdict, new_value))
    return RethresholdReport(parts=len(rows), judged=judged, before=_counts(before),
                             after=_counts(after), flips=flips[:MAX_FLIPS_LISTED],
                             flips_total=len(flips))


def _verdict(row: ScoredRow, thresholds: Thresholds, card: ModelCard | None) -> Verdict | None:
    """The new verdict of a judged row; None for a row the model did not judge."""
    if row.status != Status.OK.value or row.defect_score is None:
        return None
    own_score, own_ng = None, None
    fusion = card.fused if card is not None else None
    if fusion is not None and fusion.classifier_ng is not None:
        # The classifier's own defect score, as the runtime computes it (1 - p(good classes));
        # unknown when a stored row lacks a good class's probability.
        if all(c in row.scores for c in card.good_classes):
            own_score = 1.0 - sum(row.scores[c] for c in card.good_classes)
        own_ng = fusion.classifier_ng
    return decide(row.defect_score, thresholds, row.anomaly_score, own_score, own_ng)


def _counts(counted: Counter[str]) -> dict[str, int]:
    """Every verdict (0 when none), then anything unexpected stored."""
    counts = {v.value: counted.get(v.value, 0) for v in Verdict}
    counts.update({k: n for k, n in counted.items() if k not in counts})
    return counts
