"""An OR-rule gate's threshold read on more good parts: val goods plus the good training images,
each scored against the gate's image bank without itself (leave one out)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspector.datasets import Sample
from inspector.errors import DatasetError
from inspector.model.evaluation import score_samples
from inspector.model.preprocess import read_image
from inspector.model.runtime import BundleRuntime, image_only_score
from inspector.model.thresholds import ThresholdRule, or_gate_threshold

# A descriptor this close (standardised units) to a bank row is that row: float16 storage moves
# an image's own row by < 0.01, while the nearest other good image lies ~4 away (magnetic-tile).
SELF_DISTANCE = 0.05


@dataclass(frozen=True)
class LeftOutGoods:
    """The good training images' classifier scores and their gate scores with themselves left out."""

    defect_scores: np.ndarray
    anomaly_scores: np.ndarray


def left_out_goods(model: BundleRuntime, good_train: Sequence[Sample], batch: int = 16
                   ) -> LeftOutGoods | None:
    """Score the good training images; None where the gate has no image bank scored on its own.

    Val alone has too few good parts to place an "above every good part" threshold: on
    magnetic-tile the 143 val goods put it at 0.626, and 10 of the 619 training goods, scored
    without themselves, lie above it (1.6 %, where the rule meant to spend at most 1 %).
    """
    gate = model.gate
    if (gate is None or gate.bank is None or gate.bank.images is None or gate.uses_windows
            or gate.bank.calibration is None or not good_train):
        return None
    scored = score_samples(model, good_train, batch)
    bank = gate.bank.images
    p_all, d_all = [], []
    for start in range(0, len(scored.samples), batch):
        try:
            images = [read_image(s.path) for s in scored.samples[start:start + batch]]
        except DatasetError as exc:  # score_samples read it a moment ago: it changed under us
            raise DatasetError(f"a training image changed while scoring: {exc}") from exc
        p_anomaly, descriptors = gate.gate_descriptors(images)
        p_all.append(p_anomaly)
        d_all.append(_nearest_other(bank.descriptors, (descriptors - bank.mean) / bank.std))
    anomaly = image_only_score(gate.bank.calibration, np.concatenate(p_all), np.concatenate(d_all))
    return LeftOutGoods(scored.defect_scores, anomaly)


def _nearest_other(bank: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Distance of each standardised query to its nearest bank row other than itself."""
    bank = np.asarray(bank, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    d2 = (q ** 2).sum(1)[:, None] + (bank ** 2).sum(1)[None, :] - 2.0 * q @ bank.T
    d = np.sqrt(np.maximum(d2, 0.0))
    d[d < SELF_DISTANCE] = np.inf  # the image's own row
    return d.min(axis=1)


def pooled_or_gate_threshold(val_good_scores: np.ndarray, val_good_anomaly: np.ndarray,
                             left_out: LeftOutGoods, review: float, rule: ThresholdRule) -> float:
    """The OR gate's threshold by the rule (what REVIEW left of the budget) over both sets of goods."""
    flagged = np.concatenate([np.asarray(val_good_scores) >= review, left_out.defect_scores >= review])
    anomaly = np.concatenate([np.asarray(val_good_anomaly), left_out.anomaly_scores])
    return or_gate_threshold(flagged, anomaly, rule)
