"""Label audit: the train/val images whose label the out-of-fold networks dispute, for a person to check.

A wrong label teaches the network the wrong thing and, in val, moves the thresholds. The images a
network that never trained on them disputes most are the ones worth a second look before the next
retraining: a part labelled good that it rejects, a labelled defect it passes, a defect it files
under another class. The audit only lists them; a person decides and edits the labels.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

GOOD_REJECTED = "labelled good, scored as a defect"
DEFECT_PASSED = "labelled defect, scored as good"
OTHER_CLASS = "labelled one defect class, predicted another"


@dataclass(frozen=True)
class Suspect:
    """One disputed image and how strongly the held-out network disagrees (0..1, the sort key)."""

    image: str
    label: str
    predicted: str
    defect_score: float
    reason: str
    strength: float
    fold: int | None = None


def _class_margin(row: dict) -> float:
    """p(predicted) − p(label) where the row holds probabilities; 0 where it does not."""
    probs = row.get("probs") or {}
    return float(probs.get(row["predicted"], 0.0) - probs.get(row["label"], 0.0)) if probs else 0.0


def _suspect(row: dict, good: set[str], review: float) -> Suspect | None:
    score = float(row["defect_score"])
    if row["label"] in good:
        reason, strength = (GOOD_REJECTED, score) if score >= review else (None, 0.0)
    elif score < review:
        reason, strength = DEFECT_PASSED, 1.0 - score
    elif row["predicted"] not in good and row["predicted"] != row["label"]:
        reason, strength = OTHER_CLASS, _class_margin(row)
    else:
        reason, strength = None, 0.0
    if reason is None:
        return None
    return Suspect(row["image"], row["label"], row["predicted"], score, reason, round(strength, 6),
                   row.get("fold"))


def find_suspects(rows: Iterable[dict], good: Sequence[str], review: float) -> list[Suspect]:
    """The rows (image, label, predicted, defect_score; probs and fold optional) whose label the
    scores dispute at the REVIEW threshold, strongest disagreement first."""
    found = [s for r in rows if (s := _suspect(r, set(good), review)) is not None]
    return sorted(found, key=lambda s: (-s.strength, s.image))


def write_suspects(suspects: Sequence[Suspect], path: Path) -> None:
    """One CSV row a suspect, in the order to look at them."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(Suspect)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in suspects)
