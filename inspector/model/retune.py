"""Re-choose a bundle's (or a gate's) thresholds on a validation split; refresh its card and report."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from inspector.datasets import scan_dataset
from inspector.model.card import ModelCard
from inspector.model.evaluation import evaluate, headline, score_samples, summarise
from inspector.model.gate_calibration import left_out_goods, pooled_or_gate_threshold
from inspector.model.loader import load_float_graphs
from inspector.model.thresholds import ThresholdRule, budget_warning, choose, gate_threshold, val_warning


def retune(bundle: Path, dataset: Path, split_csv: Path | None, rule: ThresholdRule) -> dict:
    """Thresholds from the `val` rows only; `test` rows, when present, are evaluated afterwards."""
    clf = load_float_graphs(bundle)
    index = scan_dataset(dataset, split_csv)
    if clf.is_gate:
        # A gate's threshold is a false-reject rate on good parts alone: a line re-sets it on its
        # own recent good parts (the val split's good images), since good parts drift.
        good = [s for s in index.split("val") if s.label in clf.card.good_classes]
        good_scores = score_samples(clf, good).defect_scores
        thresholds = gate_threshold(good_scores, rule.max_false_reject, rule.frr_confidence)
        clf.card.with_verdict_rule(thresholds, clf.card.fusion).save(bundle)
        return {**_measure(bundle, index, rule),
                "warning": budget_warning(good_scores, thresholds.review, rule)}
    scored = score_samples(clf, index.split("val"))
    is_defect = np.array([s.label not in clf.card.good_classes for s in scored.samples])
    # An OR-rule gate (thresholds.anomaly set) gets its threshold from what REVIEW left of the budget.
    or_gate = clf.card.thresholds.anomaly is not None
    thresholds = choose(is_defect, scored.defect_scores, rule, scored.anomaly_scores if or_gate else None)
    gate_goods = None
    if or_gate:
        thresholds, gate_goods = _or_gate_on_more_goods(clf, index, scored, is_defect, thresholds, rule)
    clf.card.with_verdict_rule(thresholds, clf.card.fusion).save(bundle)
    # The warning reads REVIEW on the defect score: an OR-rule gate spends only what it left.
    warning = val_warning(scored.defect_scores[~is_defect], int(is_defect.sum()), thresholds.review, rule)
    return {**_measure(bundle, index, rule, scored, gate_goods), "warning": warning}


def _or_gate_on_more_goods(clf, index, scored, is_defect: np.ndarray, thresholds, rule: ThresholdRule):
    """(thresholds, the goods counted) with the OR gate's threshold read on val goods plus the
    training goods left out of the gate's image bank one at a time; unchanged where it has none."""
    good_train = [s for s in index.split("train") if s.label in clf.card.good_classes]
    left_out = left_out_goods(clf, good_train)
    if left_out is None:
        return thresholds, None
    good = ~is_defect
    anomaly = pooled_or_gate_threshold(scored.defect_scores[good], scored.anomaly_scores[good], left_out,
                                       thresholds.review, rule)
    counted = {"val": int(good.sum()), "train_left_out": len(left_out.anomaly_scores)}
    return dataclasses.replace(thresholds, anomaly=anomaly), counted


def _measure(bundle: Path, index, rule: ThresholdRule, val_scored=None,
             gate_goods: dict | None = None) -> dict:
    """Val and (where present) test figures at the card's new thresholds, written to card and report.

    `val_scored` (the whole val split, scored before) is reused: thresholds do not change scores.
    """
    clf = load_float_graphs(bundle)
    card = clf.card
    val = summarise(clf, val_scored) if val_scored is not None else evaluate(clf, index.split("val"))
    test = evaluate(clf, index.split("test")) if index.split("test") else None
    _refresh(bundle, card, rule, val, test, gate_goods)
    return {"bundle": str(bundle), "thresholds": dataclasses.asdict(card.thresholds),
            "rule": dataclasses.asdict(rule), "gate_goods": gate_goods, "val": headline(val),
            "test": headline(test) if test else None}


def _refresh(bundle: Path, card: ModelCard, rule: ThresholdRule, val: dict, test: dict | None,
             gate_goods: dict | None = None) -> None:
    metrics = dict(card.metrics, val=headline(val), threshold_rule=dataclasses.asdict(rule))
    metrics.pop("gate_threshold_goods", None)
    if gate_goods:  # the good parts an OR gate's threshold was read on
        metrics["gate_threshold_goods"] = gate_goods
    if test:
        metrics["test"] = headline(test)
    dataclasses.replace(card, metrics=metrics).save(bundle)
    report_path = bundle / "report.json"
    if report_path.is_file():
        report = json.loads(report_path.read_text())
        report.update(val=val, thresholds={"ng": card.thresholds.ng, "review": card.thresholds.review},
                      threshold_rule=dataclasses.asdict(rule))
        if test:
            report["test"] = test
        report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
