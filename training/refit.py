"""Refit: train once on every train+val image, with the thresholds and epoch a cross-validation chose.

`inspector train --refit-from CV_DIR` is the step after `inspector crossval` has fixed a recipe: the
val images join the training images (a line with few defect images wants all of them learnt), and
what val did in a plain training comes from the folds instead: the REVIEW threshold is the rule
applied to the pooled held-out scores of every train+val image, and the network is kept at the
median of the epochs the folds kept. With no val left, the card's figures before test are the
cross-validation's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from inspector.datasets import DatasetIndex
from inspector.errors import ConfigError
from inspector.model.card import Thresholds
from inspector.model.thresholds import at_review
from training.config import TrainingConfig

POOLED = ("train", "val")
# Options that do not change what the recipe learns or how it is scored: they may differ.
NOT_RECIPE = frozenset({"dataset", "out", "name", "seed", "no_progress", "threads", "device", "command",
                        "split_csv", "folds", "refit_from", "gate", "fuse_gate", "loader_workers",
                        "stop_not_before",  # a refit keeps the folds' epoch: it never stops early
                        # how the run was asked for, not what it trained
                        "sets", "budget_min", "no_gate", "fixed_schedule", "train_gate",
                        # a refit trains on the canvas its folds did (prepare sets it from theirs)
                        "canvas", "input_shape"})
# Options removed after failing their adoption rules: a crossval that recorded them at their
# default trained what the current code trains.
REMOVED = {"ema_decay": 0.0, "focal_gamma": 0.0, "pseudo_masks": False, "crop_good_share": None,
           "ensemble": 1}

# Options whose recipe default came after the option: a crossval that recorded them unset (absent,
# or None before the default was resolved into the args) ran with this value.
BEFORE_THE_OPTION = {"label_smoothing": 0.0, "good_share": 0.0, "frr_confidence": 0.0, "crop_margin": 0,
                     "ensemble": 1, "precision": "fp32"}

CARD_FIGURES = ("n", "n_defect", "n_good", "macro_f1", "auroc", "defect_recall", "false_reject_rate",
                "expected_false_reject", "review_threshold")


@dataclass(frozen=True)
class RefitPlan:
    """What the cross-validation hands the refit."""

    source: str
    folds: int
    thresholds: Thresholds
    keep_epoch: int              # full-image epoch whose weights ship (0-based)
    fold_epochs: list[int]       # the epoch each fold kept
    pooled: dict                 # the cross-validation's pooled figures (the card's pre-test figures)
    images: frozenset[str]       # the train+val images the folds scored


def _kept_epoch(history: list[dict]) -> int:
    """The full-image epoch a fold kept: the last with the best selection criterion (as training does)."""
    full = [h for h in history if h.get("phase") == "full" and "select" in h]
    if not full:
        raise ConfigError("a fold report holds no full-image epochs: was the cross-validation finished?")
    best = max(h["select"] for h in full)
    return max(h["epoch"] for h in full if h["select"] == best)


def load_plan(cv_dir: Path) -> tuple[RefitPlan, list[dict]]:
    """The plan from a finished `inspector crossval` folder, and each fold's training args."""
    path = cv_dir / "crossval.json"
    if not path.is_file():
        raise ConfigError(f"{cv_dir}: no crossval.json: run inspector crossval --out {cv_dir} first")
    result = json.loads(path.read_text())
    if not result.get("complete"):
        raise ConfigError(f"{cv_dir}: the cross-validation did not finish all {result.get('folds')} folds")
    reports = []
    for k in range(result["folds"]):
        report_path = cv_dir / f"fold-{k}" / "report.json"
        if not report_path.is_file():
            raise ConfigError(f"{cv_dir}: fold {k} has no report.json")
        reports.append(json.loads(report_path.read_text()))
    epochs = [_kept_epoch(r["history"]) for r in reports]
    review = float(result["pooled"]["review_threshold"])
    pooled = {k: result["pooled"][k] for k in CARD_FIGURES}
    plan = RefitPlan(str(cv_dir), result["folds"], at_review(review),
                     int(statistics.median_low(epochs)), epochs, pooled,
                     frozenset(r["image"] for r in result["scored"]))
    return plan, [r["args"] for r in reports]


def check_same_recipe(args: argparse.Namespace, fold_args: list[dict]) -> None:
    """Refuse a refit whose recipe options differ from the cross-validation's: its threshold and
    epoch would not belong to the network trained."""
    mine = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k not in NOT_RECIPE}
    theirs = {k: v for k, v in fold_args[0].items()
              if k not in NOT_RECIPE and not (k in REMOVED and v == REMOVED[k])}
    # An option added after the cross-validation ran is absent from its args: it ran as that
    # setting's default (new settings default to the old behaviour).
    defaults = {k: f.default for k, f in TrainingConfig.model_fields.items()}
    theirs.update({k: defaults.get(k) for k in mine.keys() - theirs.keys()})
    for side in (mine, theirs):
        side.update({k: v for k, v in BEFORE_THE_OPTION.items() if side.get(k) is None})
    differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differ:
        shown = ", ".join(f"--{k.replace('_', '-')} {mine.get(k)!r} (crossval: {theirs.get(k)!r})"
                          for k in differ)
        raise ConfigError(f"the refit's recipe differs from the cross-validation's: {shown}")


def refit_index(index: DatasetIndex, plan: RefitPlan) -> DatasetIndex:
    """Every train+val row as train (none held out); test rows stay test. The rows must be the
    ones the folds scored, or the pooled threshold describes other images."""
    pool = [s for s in index.samples if s.split in POOLED]
    mine = frozenset(s.rel(index.root) for s in pool)
    if mine != plan.images:
        raise ConfigError(f"the dataset's train+val rows are not the {len(plan.images)} images the "
                          f"cross-validation scored ({len(mine - plan.images)} new, "
                          f"{len(plan.images - mine)} missing): cross-validate this dataset first")
    samples = [dataclasses.replace(s, split="train") if s.split in POOLED else s for s in index.samples]
    return dataclasses.replace(index, samples=samples)
