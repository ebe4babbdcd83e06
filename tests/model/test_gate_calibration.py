"""The OR gate's threshold read on val goods plus training goods left out of the gate's image bank."""

from pathlib import Path

import numpy as np
import pytest

from inspector.datasets import scan_dataset
from inspector.model.gate_calibration import (
    LeftOutGoods,
    _nearest_other,
    left_out_goods,
    pooled_or_gate_threshold,
)
from inspector.model.loader import load_classifier
from inspector.model.preprocess import read_image
from inspector.model.thresholds import ThresholdRule
from tests.conftest import SAMPLE

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def test_an_image_in_the_bank_is_scored_against_the_others_only():
    bank = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 10.0]], dtype=np.float16)
    queries = np.array([[0.001, 0.0],   # bank row 0 itself (as float16 storage rounds it)
                        [0.0, 1.0]])    # a new image: its nearest row, whatever it is
    assert _nearest_other(bank, queries) == pytest.approx([5.0, 1.0], abs=1e-2)


def test_pooled_threshold_lies_above_the_left_out_goods_the_budget_cannot_spend():
    rule = ThresholdRule(target_recall=0.99, max_false_reject=0.01)
    val_scores, val_anomaly = np.zeros(50), np.linspace(0.1, 0.5, 50)
    # Val alone puts the gate just above 0.5; three training goods left out lie higher.
    left_out = LeftOutGoods(np.zeros(60), np.r_[np.full(57, 0.2), 0.7, 0.8, 0.9])
    alone = pooled_or_gate_threshold(val_scores, val_anomaly, LeftOutGoods(np.zeros(0), np.zeros(0)),
                                     1.0, rule)
    pooled = pooled_or_gate_threshold(val_scores, val_anomaly, left_out, 1.0, rule)
    assert 0.5 < alone < 0.7
    # 110 goods allow (j + 1) / 111 <= 1 %: none above it; so above every good part.
    assert pooled > 0.9
    # A good part REVIEW already flags does not move the gate: its budget is spent there.
    flagged = LeftOutGoods(np.r_[np.zeros(59), 1.0], np.r_[np.full(57, 0.2), 0.7, 0.8, 0.95])
    assert 0.8 < pooled_or_gate_threshold(val_scores, val_anomaly, flagged, 1.0, rule) < 0.95


def test_goods_outside_the_bank_score_as_the_station_scores_them():
    model = load_classifier(WEIGHTS / "magnetic-tile")
    goods = [s for s in scan_dataset(SAMPLE).samples if s.label == "free"]  # none in the bank
    left_out = left_out_goods(model, goods)
    served, _, _ = model.anomaly_scores([read_image(s.path) for s in goods])
    assert left_out is not None and len(left_out.anomaly_scores) == len(goods)
    np.testing.assert_allclose(left_out.anomaly_scores, served, atol=1e-4)
    assert np.all(left_out.defect_scores < model.card.thresholds.review)


def test_a_bundle_without_an_image_bank_gate_has_nothing_to_leave_out():
    model = load_classifier(WEIGHTS / "magnetic-tile-labels-only")  # its gate is fused, windows kept
    goods = [s for s in scan_dataset(SAMPLE).samples if s.label == "free"]
    assert left_out_goods(model, goods) is None
