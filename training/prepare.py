"""Data preparation: scan the dataset, resolve the recipe, read the train and val images once."""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field

import numpy as np
import torch

from inspector.datasets import DatasetIndex, pick_good_classes, scan_dataset
from inspector.errors import ConfigError, DatasetError
from training import anomaly
from training.batches import GOOD_ONLY, MASK_SUPERVISED
from training.canvas import resolve_canvas
from training.data import CachedSplit, load_split
from training.recipe import resolve_settings
from training.refit import RefitPlan, check_same_recipe, load_plan, refit_index


@dataclass
class Run:
    """What a training run carries between its steps."""

    args: argparse.Namespace
    index: DatasetIndex
    good: list[str]
    recipe: str
    device: torch.device
    classes: list[str] = field(default_factory=list)
    train: CachedSplit = field(default_factory=CachedSplit)
    val: CachedSplit = field(default_factory=CachedSplit)
    select: CachedSplit | None = None  # checkpoint-selection set (default: val)
    refit: RefitPlan | None = None     # --refit-from: no val; threshold and epoch from the folds
    history: list[dict] = field(default_factory=list)
    schedule: dict = field(default_factory=dict)  # the plan that ran (card.metrics.schedule)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _prepare_good_only(args: argparse.Namespace) -> Run:
    """Good rows only, classes [good, anomaly]; val good rows plus synthetic copies pick the epoch."""
    index = anomaly.scan_good_only(args.dataset, args.split_csv, args.seed)
    resolve_settings(args, index)
    good = anomaly.good_classes_of(index, args.good_class)
    train_rows, val_rows = (anomaly.good_rows(index, split, good) for split in ("train", "val"))
    classes = [good[0], anomaly.ANOMALY if good[0] != anomaly.ANOMALY else "anomalous"]
    run = Run(args, index, [good[0]], GOOD_ONLY, pick_device(args.device), classes)
    canvas = resolve_canvas(args, (s.path for s in train_rows))
    run.train = load_split(train_rows, classes, canvas, False, {good[0]})
    run.val = load_split(val_rows, classes, canvas, False, {good[0]})
    if len(run.train) == 0 or len(run.val) == 0:
        raise DatasetError(f"{args.dataset}: no readable good images in the train or val split")
    run.select = anomaly.synthetic_val(run.val, args.seed)
    return run


def prepare_run(args: argparse.Namespace, index: DatasetIndex | None = None) -> Run:
    """Load the train and val rows; `index` replaces the dataset's own split (cross-validation)."""
    if args.good_only or args.recipe == GOOD_ONLY:
        if index is not None:
            raise ConfigError("a good-only gate reads its own good rows: it takes no prepared split")
        args.good_only = True
        return _prepare_good_only(args)
    if index is None:
        # A refit reads the split the cross-validation pooled: seed 0's, like crossval.
        index = scan_dataset(args.dataset, args.split_csv, seed=0 if args.refit_from else args.seed)
    plan, fold_args = load_plan(args.refit_from) if args.refit_from else (None, [])
    if plan is not None:
        index = refit_index(index, plan)
        args.no_gate = True  # a gate is calibrated on val, which a refit trains on
    good = pick_good_classes(index.classes, args.good_class)
    for split in ("train",) if plan else ("train", "val"):
        empty = [c for c, n in index.counts(split).items() if n == 0]
        if empty:
            raise DatasetError(f"{args.dataset}: the {split} split has no images of {', '.join(empty)}")
    config = resolve_settings(args, index)  # before a refit compares them with the crossval's
    run = Run(args, index, good, config.recipe, pick_device(args.device), list(index.classes), refit=plan)
    if plan is not None:
        # The refit keeps the folds' epoch: it trains their schedule, whatever the budget says now.
        for name in ("crop_epochs", "epochs", "precision"):
            if name in fold_args[0]:
                setattr(args, name, fold_args[0][name])
        args.fixed_schedule = ["crop_epochs", "epochs"]
        # ... and their canvas (a cross-validation from before the canvas setting ran square).
        shape = fold_args[0].get("input_shape")
        args.canvas = f"{shape[0]}x{shape[1]}" if shape else "square"
    canvas = resolve_canvas(args, (s.path for s in index.split("train")))
    if plan is not None:
        check_same_recipe(args, fold_args)
    use_masks = run.recipe == MASK_SUPERVISED
    run.train = load_split(index.split("train"), index.classes, canvas, use_masks, set(good))
    run.val = load_split(index.split("val"), index.classes, canvas, False, set(good))
    if len(run.train) == 0 or (len(run.val) == 0 and plan is None):
        raise DatasetError(f"{args.dataset}: no readable images in the train or val split")
    return run


# Settings a trained gate takes from its classifier's run: the images, the network and the steps'
# sizes are the same; the schedule, losses and thresholds' rule are the good-only recipe's own.
SHARED_WITH_GATE = ("input_size", "crop_size", "crop_steps", "crop_batch", "batch", "steps_per_epoch",
                    "widths", "head_width", "tta", "lr", "weight_decay", "patience", "loader_workers",
                    "gate_frr", "bank_size", "bank_pool", "no_image_bank", "gate_p_weight")


def gate_args(args: argparse.Namespace, out) -> argparse.Namespace:
    """The good-only gate a labels-only run trains first: the same data, seed and compute, the
    good-only recipe's settings (its own schedule, fitted to the same budget)."""
    keep = ("dataset", "split_csv", "good_class", "seed", "threads", "device", "no_progress",
            "budget_min", "command")
    gate = argparse.Namespace(**{k: getattr(args, k, None) for k in keep})
    gate.out, gate.name = out, f"{args.name or args.out.name}-gate"
    gate.sets = [f"{k}={getattr(args, k)}" for k in SHARED_WITH_GATE]
    # The classifier's canvas, not one of the good images' own: the fused scores must see one part alike.
    gate.sets.append(f"canvas={args.input_shape[0]}x{args.input_shape[1]}")
    gate.recipe, gate.good_only, gate.gate, gate.no_gate = None, True, None, True
    gate.crop_epochs = gate.epochs = gate.precision = gate.refit_from = None
    return gate
