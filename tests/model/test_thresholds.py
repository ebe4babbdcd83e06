"""The threshold rule (recall first, within a false-reject budget) and `inspector tune-thresholds`."""

import json
import shutil

import numpy as np
from typer.testing import CliRunner

from inspector.cli import app
from inspector.model import metrics
from inspector.model.card import ModelCard
from inspector.model.thresholds import ThresholdRule, choose


def test_false_reject_budget_threshold():
    good = np.array([0.9, 0.5, 0.4, 0.1] + [0.0] * 195)  # 199 good parts
    assert metrics.threshold_for_false_reject(good, 0.0) > 0.9
    thr = metrics.threshold_for_false_reject(good, 0.01)  # (1 + 1) / (199 + 1): one may lie over it
    assert 0.5 < thr <= np.nextafter(0.5, 1)
    # 100 parts are too few for one over a 1% budget (2/101 expected): none may lie over it.
    assert metrics.threshold_for_false_reject(good[:100], 0.01) > 0.9
    assert metrics.threshold_for_false_reject(good, 1.0) == 0.0


def test_false_reject_budget_holds_on_new_good_parts():
    # Threshold set on 143 good val parts; the share of new good parts over it, over many lines.
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(4000):
        val, new = rng.random(143), rng.random(2000)
        rates.append((new >= metrics.threshold_for_false_reject(val, 0.01)).mean())
    assert np.mean(rates) <= 0.01  # 1/144 expected; counting 1% of the val parts expects 2/144


def test_perfect_separation_spends_the_budget_on_recall():
    is_defect = np.array([True] * 50 + [False] * 100)
    scores = np.concatenate([np.linspace(0.8, 1.0, 50), np.linspace(0.0, 0.3, 100)])
    th = choose(is_defect, scores, ThresholdRule(0.99, 0.01))
    assert th.review < 0.8  # below the lowest defect: a margin for the next defect
    assert (scores[~is_defect] >= th.review).mean() <= 0.01
    assert th.ng == 0.5


def test_overlap_keeps_the_recall_target():
    is_defect = np.array([True] * 100 + [False] * 100)
    scores = np.concatenate([np.linspace(0.05, 1.0, 100), np.linspace(0.0, 0.5, 100)])
    th = choose(is_defect, scores, ThresholdRule(0.99, 0.01))
    assert (scores[is_defect] >= th.review).mean() >= 0.99  # recall first, even past the budget


def _tune(tiny_bundle, dataset, tmp_path, budget: str):
    """tune-thresholds on a copy of the tiny bundle: (bundle, CLI result, its JSON line)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    result = CliRunner().invoke(app, ["tune-thresholds", str(bundle), str(dataset),
                                      "--max-false-reject", budget])
    assert result.exit_code == 0, result.output
    return bundle, result, json.loads(result.stdout.strip().splitlines()[-1])


def test_tune_thresholds_rewrites_the_card(tiny_bundle, synthetic_dataset, tmp_path):
    bundle, _, out = _tune(tiny_bundle, synthetic_dataset, tmp_path, "0.0")
    card = ModelCard.load(bundle)
    assert card.thresholds.review == out["thresholds"]["review"]
    assert card.metrics["threshold_rule"] == {"target_recall": 0.99, "max_false_reject": 0.0}
    assert out["test"]["n"] == 6 and out["val"]["n"] == 6


def test_expected_false_reject_counts_the_next_part():
    assert metrics.expected_false_reject(np.zeros(143, dtype=bool)) == 1 / 144
    assert metrics.expected_false_reject(np.array([True, False, False])) == 2 / 4
    assert metrics.expected_false_reject(np.zeros(0, dtype=bool)) is None


def test_tune_thresholds_warns_when_val_is_too_small_for_the_budget(tiny_bundle, synthetic_dataset,
                                                                     tmp_path):
    _, result, out = _tune(tiny_bundle, synthetic_dataset, tmp_path, "0.05")
    n_good = 2  # the synthetic dataset's val split: 2 good of 6 images
    assert out["val"]["expected_false_reject"] >= 1 / (n_good + 1) > 0.05
    assert f"{n_good} good val parts cannot show a rate below 1/{n_good + 1}" in out["warning"]
    assert "collect at least 19 for this budget" in result.stderr


def test_budget_warning_names_the_cause():
    from inspector.model.thresholds import budget_warning

    rule = ThresholdRule(0.99, 0.01)
    good = np.linspace(0.0, 0.5, 143)
    assert budget_warning(good, np.nextafter(0.5, 1), rule) is None  # none of 143 over: 1/144
    over = budget_warning(good, 0.45, rule)  # the recall side put REVIEW among the good parts
    assert "recall target (0.99)" in over and "expects 0.111" in over
    assert "collect at least 99" in budget_warning(good[:50], 0.9, rule)
    assert "budget of 0" in budget_warning(good, 0.9, ThresholdRule(0.99, 0.0))
