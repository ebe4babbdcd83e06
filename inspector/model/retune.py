"""Re-choose a bundle's (or a gate's) thresholds on a validation split; refresh its card and report."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from inspector.datasets import scan_dataset
from inspector.model.card import ModelCard
from inspector.model.evaluation import evaluate, headline, score_samples, summarise
from inspector.model.loader import load_classifier
from inspector.model.thresholds import ThresholdRule, choose, gate_threshold


def retune(bundle: Path, dataset: Path, split_csv: Path | None, rule: ThresholdRule) -> dict:
    """Thresholds from the `val` rows only; `test` rows, when present, are evaluated afterwards."""
    clf = load_classifier(bundle, "onnx")
    index = scan_dataset(dataset, split_csv)
    if clf.is_gate:
        # A gate's threshold is a false-reject rate on good parts alone: a line re-sets it on its
        # own recent good parts (the val split's good images), since good parts drift.
        good = [s for s in index.split("val") if s.label in clf.card.good_classes]
        thresholds = gate_threshold(score_samples(clf, good).defect_scores, rule.max_false_reject)
        dataclasses.replace(clf.card, thresholds=thresholds).save(bundle)
        return _measure(bundle, index, rule)
    scored = score_samples(clf, index.split("val"))
    is_defect = np.array([s.label not in clf.card.good_classes for s in scored.samples])
    thresholds = choose(is_defect, scored.defect_scores, rule)
    card = dataclasses.replace(clf.card, thresholds=dataclasses.replace(
        thresholds, anomaly=clf.card.thresholds.anomaly))
    card.save(bundle)
    return _measure(bundle, index, rule, scored)


def _measure(bundle: Path, index, rule: ThresholdRule, val_scored=None) -> dict:
    """Val and (where present) test figures at the card's new thresholds, written to card and report.

    `val_scored` (the whole val split, scored before) is reused: thresholds do not change scores.
    """
    clf = load_classifier(bundle, "onnx")
    card = clf.card
    val = summarise(clf, val_scored) if val_scored is not None else evaluate(clf, index.split("val"))
    test = evaluate(clf, index.split("test")) if index.split("test") else None
    _refresh(bundle, card, rule, val, test)
    return {"bundle": str(bundle), "thresholds": dataclasses.asdict(card.thresholds),
            "rule": dataclasses.asdict(rule), "val": headline(val),
            "test": headline(test) if test else None, "warning": budget_warning(val, rule)}


def budget_warning(val: dict, rule: ThresholdRule) -> str | None:
    """Why the new thresholds expect more false rejects on new parts than the budget, if they do."""
    expected, n_good = val.get("expected_false_reject"), val.get("n_good") or 0
    if expected is None or expected <= rule.max_false_reject + 1e-12:
        return None
    if rule.max_false_reject <= 0:
        why = "no number of good parts can promise a budget of 0"
    elif 1 / (n_good + 1) > rule.max_false_reject:
        why = (f"{n_good} good val parts cannot show a rate below 1/{n_good + 1}: collect at least "
               f"{math.ceil(1 / rule.max_false_reject - 1 - 1e-9)} for this budget")
    else:
        why = f"the recall target ({rule.target_recall}) needs the lower threshold"
    return (f"the val split expects {expected:.3f} of new good parts rejected, over the budget "
            f"{rule.max_false_reject}: {why}")


def _refresh(bundle: Path, card: ModelCard, rule: ThresholdRule, val: dict, test: dict | None) -> None:
    metrics = dict(card.metrics, val=headline(val), threshold_rule=dataclasses.asdict(rule))
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
