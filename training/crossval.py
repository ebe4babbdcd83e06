"""`inspector crossval`: a recipe's validation figures over K folds of train+val, pooled out of fold.

One val split of the magnetic-tile data holds 59 defects and 143 good parts, and every seed of
the shipped recipe separates it perfectly: it cannot tell recipes, seeds or threshold rules apart.
Training K times, each time holding out one fold of train+val as the val split, scores every
labelled train/val image once by a network that did not train on it. The `test` rows are never read.

Each fold's held-out rows do what val does in `inspector train`: they pick the checkpoint and the
thresholds. So the pooled figures are the recipe's val figures over every train/val image, with
val's optimism (the kept epoch is the one that scored best on them), not a test estimate.
The same held-out scores audit the labels: OUT/label-suspects.csv lists the images they dispute.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import random
import sys
import time
from collections import defaultdict

import numpy as np

from inspector.datasets import DatasetIndex, Sample, pick_good_classes, scan_dataset
from inspector.errors import ConfigError, DatasetError
from inspector.model import metrics
from inspector.model.thresholds import ThresholdRule, choose
from training import train
from training.label_audit import find_suspects, write_suspects
from training.refit import POOLED

logger = logging.getLogger(__name__)
SUSPECTS_FILE = "label-suspects.csv"  # the images whose label the held-out networks dispute


def get_args_parser() -> argparse.ArgumentParser:
    p = train.get_args_parser()
    p.prog = "inspector crossval"
    p.description = ("Train a recipe K times, each fold of train+val held out once as val; report "
                     "the figures pooled over every held-out image (test rows are never read).")
    p.add_argument("--folds", type=int, default=4, help="number of folds (K trainings)")
    return p


def assign_folds(samples: list[Sample], k: int, seed: int) -> list[int]:
    """Fold of each sample: every class shuffled (seeded) and dealt in turn, so each fold holds
    each class and the fold sizes differ by at most one."""
    by_class: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_class[s.label].append(i)
    rng = random.Random(seed)
    folds = [0] * len(samples)
    dealt = 0
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < k:
            raise DatasetError(f"class {label} has {len(members)} train/val images, fewer than the "
                               f"{k} folds: every fold needs one")
        rng.shuffle(members)
        for j, i in enumerate(members):
            folds[i] = (dealt + j) % k  # go on dealing where the last class stopped
        dealt += len(members)
    return folds


def fold_index(index: DatasetIndex, folds: list[int], held_out: int) -> DatasetIndex:
    """The dataset with fold `held_out` as val, the other folds as train, and no test rows."""
    pool = [s for s in index.samples if s.split in POOLED]
    samples = [dataclasses.replace(s, split="val" if f == held_out else "train")
               for s, f in zip(pool, folds, strict=True)]
    return dataclasses.replace(index, samples=samples)


def pooled_figures(rows: list[dict], classes: list[str], good: list[str], rule: ThresholdRule) -> dict:
    """The threshold rule and the figures over every held-out image at once."""
    is_defect = np.array([r["label"] not in good for r in rows], dtype=bool)
    scores = np.array([r["defect_score"] for r in rows], dtype=np.float64)
    thresholds = choose(is_defect, scores, rule)
    flagged = scores >= thresholds.review
    recall, frr = metrics.flag_rates(is_defect, flagged)
    y_true = np.array([classes.index(r["label"]) for r in rows])
    y_pred = np.array([classes.index(r["predicted"]) for r in rows])
    cm = metrics.confusion_matrix(y_true, y_pred, len(classes))
    labels = np.array([r["label"] for r in rows])
    return {
        "n": len(rows), "n_defect": int(is_defect.sum()), "n_good": int((~is_defect).sum()),
        "accuracy": float((y_true == y_pred).mean()), "macro_f1": metrics.macro_f1(cm),
        "auroc": metrics.auroc(is_defect, scores), "score_margin": metrics.score_margin(is_defect, scores),
        "review_threshold": thresholds.review, "defect_recall": recall, "false_reject_rate": frr,
        "expected_false_reject": metrics.expected_false_reject(flagged[~is_defect]),
        **metrics.misjudged([r["image"] for r in rows], is_defect, flagged),
        "auroc_by_defect_class": {c: metrics.auroc(is_defect[(labels == c) | ~is_defect],
                                                   scores[(labels == c) | ~is_defect])
                                  for c in sorted(set(labels[is_defect]))},
        "per_class": metrics.per_class_scores(cm, classes),
    }


def _fold_figures(fold: int, report: dict) -> dict:
    """A fold network at its own val-chosen thresholds, with the seed-choice criterion
    (macro-F1 + AUROC - FRR on its held-out rows, ONNX path, test-time views)."""
    val = report["val"]
    criterion = val["macro_f1"] + (val["auroc"] or 0.0) - val["false_reject_rate"]
    return {"fold": fold, "n": val["n"], "macro_f1": val["macro_f1"], "auroc": val["auroc"],
            "defect_recall": val["defect_recall"], "false_reject_rate": val["false_reject_rate"],
            "score_margin": val["score_margin"], "criterion": criterion,
            "review_threshold": report["thresholds"]["review"],
            "train_minutes": round(report["train_seconds"] / 60, 2)}


def check_args(args: argparse.Namespace) -> None:
    if args.folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {args.folds}")
    if args.good_only or args.recipe == "good-only":
        raise ConfigError("crossval needs defect labels: a good-only gate has no defects to hold out")
    if args.refit_from is not None:
        raise ConfigError("--refit-from belongs to inspector train, after the cross-validation")
    if args.gate is not None:
        # The gate trained on the train rows' good parts, which the folds hold out as val.
        raise ConfigError("crossval does not attach a gate: it saw the good parts the folds hold out")


def main(args: argparse.Namespace) -> dict:
    """K trainings, one per held-out fold; writes OUT/fold-N bundles and OUT/crossval.json."""
    check_args(args)
    train.check_args(args)
    # Without a split CSV the test rows come from a seeded split: seed 0's whatever --seed is, so
    # crossvals of different seeds pool the same images and never one another's test rows.
    index = scan_dataset(args.dataset, args.split_csv, seed=0)
    good = pick_good_classes(index.classes, args.good_class)
    pool = [s for s in index.samples if s.split in POOLED]
    folds = assign_folds(pool, args.folds, args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    rows, per_fold, recipe, rule = [], [], None, None
    for k in range(args.folds):
        logger.info("fold %d of %d: %d held out", k + 1, args.folds, folds.count(k))
        # No gate per fold: a gate calibrates on val, the fold's held-out rows (check_args).
        fold_args = argparse.Namespace(**{**vars(args), "out": args.out / f"fold-{k}",
                                          "name": f"{args.name or args.out.name}-fold-{k}",
                                          "no_gate": True})
        report = train.main(fold_args, fold_index(index, folds, k))
        recipe, rule = report["recipe"], train.threshold_rule(fold_args)  # the recipe's, resolved
        rows += [{**r, "fold": k} for r in report["val_scored"]]
        per_fold.append(_fold_figures(k, report))
        # Written after every fold: a run stopped at fold K-1 keeps what the earlier folds gave.
        result = _result(args, recipe, rule, index.classes, good, rows, per_fold, start)
        suspects = find_suspects(rows, good)
        result["label_suspects"] = len(suspects)
        write_suspects(suspects, args.out / SUSPECTS_FILE)
        (args.out / "crossval.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _result(args: argparse.Namespace, recipe: str, rule: ThresholdRule, classes: list[str], good: list[str],
            rows: list[dict], per_fold: list[dict], start: float) -> dict:
    criteria = [f["criterion"] for f in per_fold]
    return {
        "dataset": str(args.dataset), "recipe": recipe, "folds": args.folds, "seed": args.seed,
        "complete": len(per_fold) == args.folds,
        "command": getattr(args, "command", "") or " ".join(sys.argv),
        "rule": dataclasses.asdict(rule),
        "criterion_mean": float(np.mean(criteria)), "criterion_min": float(np.min(criteria)),
        "criterion_max": float(np.max(criteria)),
        "pooled": pooled_figures(rows, classes, good, rule),
        "per_fold": per_fold, "minutes": round((time.monotonic() - start) / 60, 2), "scored": rows,
    }


def _summary(args: argparse.Namespace, result: dict) -> dict:
    pooled = {k: result["pooled"][k] for k in ("n", "macro_f1", "auroc", "score_margin",
                                                "defect_recall", "false_reject_rate")}
    return {"out": str(args.out), "recipe": result["recipe"], "folds": result["folds"],
            "criterion_mean": result["criterion_mean"], "minutes": result["minutes"], **pooled,
            "label_suspects": result["label_suspects"]}


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry (`inspector crossval` runs it)."""
    return train.run_command(get_args_parser(), argv, main, _summary)


if __name__ == "__main__":
    sys.exit(cli())
