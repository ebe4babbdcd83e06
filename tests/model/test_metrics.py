"""Metrics against hand-computed answers."""

import numpy as np

from inspector.model import metrics


def test_auroc_perfect_random_and_ties():
    assert metrics.auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert metrics.auroc(np.array([0, 0, 1, 1]), np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert metrics.auroc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    assert metrics.auroc(np.array([1, 1]), np.array([0.5, 0.6])) is None


def test_threshold_for_recall_catches_target():
    is_defect = np.array([1] * 100 + [0] * 10, bool)
    scores = np.concatenate([np.linspace(0.01, 1.0, 100), np.zeros(10)])
    thr = metrics.threshold_for_recall(is_defect, scores, 0.99)
    recall, _ = metrics.flag_rates(is_defect, scores >= thr)
    assert recall >= 0.99
    assert metrics.threshold_for_recall(is_defect, scores, 1.0) == scores[:100].min()


def test_macro_f1_and_confusion():
    cm = metrics.confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 2]]
    f1_0, f1_1 = 2 * 1 * 0.5 / 1.5, 2 * (2 / 3) * 1 / (5 / 3)
    assert abs(metrics.macro_f1(cm) - (f1_0 + f1_1) / 2) < 1e-9


def test_score_margin_ranks_separated_and_overlapping_scores():
    labels = np.array([1, 1, 0, 0], dtype=bool)
    wide = metrics.score_margin(labels, np.array([0.99, 0.9, 0.1, 0.01]))
    narrow = metrics.score_margin(labels, np.array([0.6, 0.9, 0.4, 0.01]))
    overlap = metrics.score_margin(labels, np.array([0.3, 0.9, 0.4, 0.01]))
    assert abs(wide - 2 * np.log(9.0)) < 1e-9  # logit(0.9) - logit(0.1)
    assert narrow > 0 > overlap
    assert metrics.score_margin(labels[:2], np.array([0.5, 0.6])) is None
