"""The threshold rule (recall first, within a false-reject budget) and `inspector tune-thresholds`."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from inspector.cli import app
from inspector.errors import ConfigError
from inspector.model import metrics
from inspector.model.card import ModelCard
from inspector.model.thresholds import NG_ABOVE_GOOD, NG_AT_REVIEW, ThresholdRule, choose


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


def test_false_reject_bound_is_clopper_pearson():
    # Beta(k + 1, n - k) quantiles at 0.95 (scipy.stats.beta.ppf), the exact one-sided bound.
    for k, bound in ((0, 0.0207313), (1, 0.0327428), (2, 0.0433699), (3, 0.0533260)):
        assert metrics.false_reject_bound(k, 143, 0.95) == pytest.approx(bound, abs=1e-6)
    assert metrics.false_reject_bound(0, 143, 0.99) > metrics.false_reject_bound(0, 143, 0.95)
    assert metrics.false_reject_bound(5, 5, 0.95) == 1.0
    with pytest.raises(ValueError):
        metrics.false_reject_bound(3, 2, 0.95)


def test_budget_at_confidence_lets_fewer_good_parts_over_than_its_expected_rate():
    good = np.linspace(0.0, 1.0, 143)
    # 5 % at 95 % confidence: 2 of 143 over (bound 0.043; 3 would show only 0.053) ...
    shown = metrics.threshold_for_false_reject_bound(good, 0.05, 0.95)
    assert (good >= shown).sum() == 2
    # ... where the expected rate lets (j + 1) / 144 <= 0.05, i.e. 6, over.
    assert (good >= metrics.threshold_for_false_reject(good, 0.05)).sum() == 6
    # 40 parts cannot show 5 % at 95 % (0 of 40: 0.072): none may lie over.
    assert (good[:40] >= metrics.threshold_for_false_reject_bound(good[:40], 0.05, 0.95)).sum() == 0


def test_budget_held_at_confidence_holds_on_new_lines_most_of_the_time():
    # Over many lines: the share of new good parts over a threshold set on 143 val parts.
    rng = np.random.default_rng(1)
    threshold = metrics.threshold_for_false_reject_bound
    rates = [(rng.random(4000) >= threshold(rng.random(143), 0.05, 0.95)).mean() for _ in range(2000)]
    assert np.mean(np.array(rates) > 0.05) <= 0.05  # the budget is broken on at most 5 % of lines
    assert 0.01 < np.mean(rates) < 0.05


def test_the_rule_lowers_review_to_what_the_confident_budget_allows():
    is_defect = np.array([True] * 59 + [False] * 143)
    scores = np.concatenate([np.linspace(0.9, 1.0, 59), np.linspace(0.0, 0.7, 140), [0.95, 0.88, 0.8]])
    expected = choose(is_defect, scores, ThresholdRule(0.99, 0.01))  # recall side: the lowest defect
    assert expected.review == pytest.approx(0.9)
    shown = choose(is_defect, scores, ThresholdRule(0.99, 0.05, frr_confidence=0.95))
    assert 0.8 < shown.review < 0.9 and (scores[~is_defect] >= shown.review).sum() == 2
    with pytest.raises(ConfigError, match="confidence"):
        ThresholdRule(0.99, 0.05, frr_confidence=1.0)
    with pytest.raises(ConfigError, match="budget"):
        ThresholdRule(0.99, -0.1)


def test_budget_warning_at_confidence_says_how_many_parts_would_show_it():
    from inspector.model.thresholds import budget_warning

    rule = ThresholdRule(0.99, 0.05, frr_confidence=0.95)
    good = np.linspace(0.0, 0.5, 143)
    assert budget_warning(good, np.nextafter(good[-3], 1), rule) is None  # 2 over: 0.043
    over = budget_warning(good, good[-4], rule)  # 4 over: 0.063 at 95 %
    assert "shows at most 0.063 of new good parts rejected at 95% confidence" in over
    few = budget_warning(good[:40], 0.9, rule)
    assert "cannot show a rate below 0.072 at 95% confidence" in few
    assert "collect at least 59 for this budget" in few  # 1 - 0.05^(1/59) <= 0.05


def test_perfect_separation_spends_the_budget_on_recall():
    is_defect = np.array([True] * 50 + [False] * 100)
    scores = np.concatenate([np.linspace(0.8, 1.0, 50), np.linspace(0.0, 0.3, 100)])
    th = choose(is_defect, scores, ThresholdRule(0.99, 0.01))
    assert th.review < 0.8  # below the lowest defect: a margin for the next defect
    assert (scores[~is_defect] >= th.review).mean() <= 0.01
    assert th.ng == 0.8  # the gap val never saw, between the good parts and the defects, is REVIEW
    assert choose(is_defect, scores, ThresholdRule(0.99, 0.01, ng_rule=NG_AT_REVIEW)).ng == 0.5


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
    assert card.metrics["threshold_rule"] == {"target_recall": 0.99, "max_false_reject": 0.0,
                                                 "frr_confidence": 0.0, "ng_rule": NG_ABOVE_GOOD}
    assert card.thresholds.review <= card.thresholds.ng
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


def test_tune_thresholds_keeps_the_rule_the_bundle_recorded(tiny_bundle, synthetic_dataset, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    card = ModelCard.load(bundle)
    rule = {"target_recall": 0.9, "max_false_reject": 0.3, "frr_confidence": 0.5, "ng_rule": NG_AT_REVIEW}
    card.metrics["threshold_rule"] = rule
    card.save(bundle)
    result = CliRunner().invoke(app, ["tune-thresholds", str(bundle), str(synthetic_dataset)])
    assert result.exit_code == 0, result.output
    assert ModelCard.load(bundle).metrics["threshold_rule"] == rule
    # A value given on the command line replaces the recorded one; the others stay.
    result = CliRunner().invoke(app, ["tune-thresholds", str(bundle), str(synthetic_dataset),
                                      "--frr-confidence", "0"])
    assert result.exit_code == 0, result.output
    assert ModelCard.load(bundle).metrics["threshold_rule"] == {**rule, "frr_confidence": 0.0}


def test_val_defects_too_few_for_the_recall_target_are_named():
    from inspector.model.thresholds import recall_warning, val_warning

    assert metrics.expected_recall(np.ones(59, dtype=bool)) == 59 / 60
    assert metrics.expected_recall(np.array([True, False])) == 1 / 3
    assert metrics.expected_recall(np.zeros(0, dtype=bool)) is None
    said = recall_warning(59, ThresholdRule(0.99, 0.01))
    assert "59 val defects cannot show recall 0.99" in said and "0.983" in said
    assert "collect at least 99" in said
    assert recall_warning(99, ThresholdRule(0.99, 0.01)) is None  # 99/100 = 0.99
    assert recall_warning(9, ThresholdRule(0.9, 0.01)) is None
    both = val_warning(np.linspace(0, 0.5, 50), 59, 0.9, ThresholdRule(0.99, 0.01))
    assert "collect at least 99 for this budget" in both and "59 val defects" in both


def test_a_gate_threshold_reads_its_rate_the_same_two_ways():
    from inspector.model.thresholds import gate_threshold

    good = np.linspace(0.0, 1.0, 143)
    assert (good >= gate_threshold(good, 0.05).review).sum() == 6  # (6 + 1) / 144 expected
    shown = gate_threshold(good, 0.05, confidence=0.95)
    assert (good >= shown.review).sum() == 2 and shown.anomaly == shown.review and shown.ng == 1.0


def _overlapping_val(n_good: int = 143):
    """59 defects from 0.6 to 1.0 and good parts up to 0.3, with three good parts among the defects."""
    is_defect = np.array([True] * 59 + [False] * n_good)
    good = np.concatenate([np.linspace(0.0, 0.3, n_good - 3), [0.65, 0.7, 0.92]])
    return is_defect, np.concatenate([np.linspace(0.6, 1.0, 59), good])


def test_ng_sits_at_the_lowest_val_defect_above_every_good_part():
    is_defect, scores = _overlapping_val()
    th = choose(is_defect, scores, ThresholdRule(0.99, 0.05))
    above = scores[is_defect][scores[is_defect] > 0.92]
    assert th.ng == above.min()  # no val good part is scrapped; every val defect over it is NG
    assert not (scores[~is_defect] >= th.ng).any() and th.review < th.ng
    # The band does not move REVIEW: the parts flagged (NG or REVIEW) are those without a band.
    flat = choose(is_defect, scores, ThresholdRule(0.99, 0.05, ng_rule=NG_AT_REVIEW))
    assert th.review == flat.review and flat.ng == max(flat.review, 0.5)


def test_ng_never_falls_below_review_or_the_floor():
    is_defect = np.array([True] * 10 + [False] * 10)
    low = np.concatenate([np.linspace(0.2, 0.3, 10), np.linspace(0.0, 0.1, 10)])
    assert choose(is_defect, low, ThresholdRule(0.99, 0.01)).ng == 0.5  # 0.2 is more likely good
    worst = np.concatenate([np.linspace(0.6, 0.7, 10), np.linspace(0.0, 0.8, 10)])
    th = choose(is_defect, worst, ThresholdRule(1.0, 0.01))  # no defect above the good parts
    assert th.ng == np.nextafter(0.8, 1) and th.review == 0.6  # recall first: the lowest defect
    with pytest.raises(ConfigError, match="ng_rule"):
        ThresholdRule(ng_rule="never")


def test_an_or_gate_spends_only_what_review_left_of_the_budget():
    from inspector.model.thresholds import or_gate_threshold

    rule = ThresholdRule(0.99, 0.01)
    anomaly = np.linspace(0.0, 0.9, 143)
    flagged = np.zeros(143, dtype=bool)
    # 1 % of 143 expected: none may be over (2/144 > 0.01): the gate sits above every good part.
    assert or_gate_threshold(flagged, anomaly, rule) == np.nextafter(0.9, 1)
    # Parts REVIEW already flags do not hold the gate up: it sits above the ones REVIEW passes.
    flagged[-1] = True
    assert or_gate_threshold(flagged, anomaly, ThresholdRule(0.99, 0.02)) == np.nextafter(anomaly[-2], 1)
    # A budget of 5 % ((6 + 1) / 144 expected: 6 of 143 in all) leaves 5 for the gate beside REVIEW's.
    thr = or_gate_threshold(flagged, anomaly, ThresholdRule(0.99, 0.05))
    assert (flagged | (anomaly >= thr)).sum() == 6 and (anomaly >= thr).sum() == 6


def test_choose_with_gate_scores_keeps_review_and_ng_and_sets_the_gate():
    is_defect, scores = _overlapping_val()
    rule = ThresholdRule(0.99, 0.05)
    anomaly = np.concatenate([np.full(59, 0.9), np.linspace(0.0, 0.5, 143)])
    th = choose(is_defect, scores, rule, anomaly)
    assert (th.review, th.ng) == (choose(is_defect, scores, rule).review, choose(is_defect, scores, rule).ng)
    good_flagged = (scores[~is_defect] >= th.review) | (anomaly[~is_defect] >= th.anomaly)
    assert rule.within_budget(int(good_flagged.sum()), 143)
    assert not rule.within_budget(int(good_flagged.sum()) + 1, 143)  # the whole budget is spent


SHIPPED_GATE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile-good-only"


def _chosen_again(bundle: Path, dataset: Path):
    """(card, val scores, is_defect, the thresholds the rule picks on them) of a gated bundle."""
    from inspector.datasets import scan_dataset
    from inspector.model.evaluation import score_samples
    from inspector.model.loader import load_classifier

    card = ModelCard.load(bundle)
    scored = score_samples(load_classifier(bundle), scan_dataset(dataset).split("val"))
    is_defect = np.array([s.label not in card.good_classes for s in scored.samples])
    rule = ThresholdRule(**card.metrics["threshold_rule"])
    return card, scored, is_defect, choose(is_defect, scored.defect_scores, rule, scored.anomaly_scores)


def test_tune_thresholds_sets_an_or_gate_by_the_rule(tiny_bundle, synthetic_dataset, tmp_path):
    from inspector.model.gate import attach_gate

    bundle = tmp_path / "gated"
    shutil.copytree(tiny_bundle, bundle)
    gate = SHIPPED_GATE
    attach_gate(bundle, gate)  # the gate's own threshold (5 % of its own val good parts) comes along
    result = CliRunner().invoke(app, ["tune-thresholds", str(bundle), str(synthetic_dataset)])
    assert result.exit_code == 0, result.output
    card, scored, is_defect, chosen = _chosen_again(bundle, synthetic_dataset)
    assert card.thresholds == chosen
    # 1 % of new good parts cannot be shown by 2 val good parts: the gate flags none REVIEW passes.
    passed = ~is_defect & (scored.defect_scores < card.thresholds.review)
    assert (scored.anomaly_scores[passed] < card.thresholds.anomaly).all()
    assert card.thresholds.anomaly != ModelCard.load(gate).thresholds.anomaly


def test_training_with_an_or_gate_sets_it_by_the_same_rule(synthetic_dataset, tmp_path):
    pytest.importorskip("torch")
    from tests.conftest import TINY_ARGS
    from training.train import get_args_parser, main

    out = tmp_path / "trained"
    main(get_args_parser().parse_args([str(synthetic_dataset), "--out", str(out), *TINY_ARGS,
                                       "--gate", str(SHIPPED_GATE)]))
    card, _, _, chosen = _chosen_again(out, synthetic_dataset)
    assert card.thresholds == chosen and card.metrics["threshold_rule"]["ng_rule"] == NG_ABOVE_GOOD
