"""Label audit: the train/val images whose label the out-of-fold networks dispute, for a person to check.

A wrong label teaches the network the wrong thing and, in val, moves the thresholds. The images a
network that never trained on them disputes most are the ones worth a second look before the next
retraining: its answer (the most probable class) is not the label, ranked by how much more
probable it finds its answer than the label. The audit only lists them; a person decides and
edits the labels.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

GOOD_REJECTED = "labelled good, predicted a defect"
DEFECT_PASSED = "labelled defect, predicted good"
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


def _strength(row: dict, label_is_good: bool) -> float:
    """p(predicted) − p(label) where the row holds probabilities; else how far the defect score
    leans the other way (rows of older cross-validations carry no probabilities)."""
    probs = row.get("probs")
    if probs:
        return float(probs.get(row["predicted"], 0.0) - probs.get(row["label"], 0.0))
    score = float(row["defect_score"])
    return score if label_is_good else 1.0 - score


def _suspect(row: dict, good: set[str]) -> Suspect | None:
    label_is_good, predicted_good = row["label"] in good, row["predicted"] in good
    if row["predicted"] == row["label"] or (label_is_good and predicted_good):
        return None
    reason = (GOOD_REJECTED if label_is_good else DEFECT_PASSED if predicted_good else OTHER_CLASS)
    return Suspect(row["image"], row["label"], row["predicted"], float(row["defect_score"]), reason,
                   round(_strength(row, label_is_good), 6), row.get("fold"))


def find_suspects(rows: Iterable[dict], good: Sequence[str]) -> list[Suspect]:
    """The rows (image, label, predicted, defect_score; probs and fold optional) whose held-out
    prediction is not their label, the most confident disagreement first."""
    found = [s for r in rows if (s := _suspect(r, set(good))) is not None]
    return sorted(found, key=lambda s: (-s.strength, s.image))


def write_suspects(suspects: Sequence[Suspect], path: Path) -> None:
    """One CSV row a suspect, in the order to look at them."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[fl.name for fl in fields(Suspect)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in suspects)
