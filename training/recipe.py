"""Recipe resolution: which recipe a dataset gets, and every setting of the run it starts from."""

from __future__ import annotations

import argparse

from inspector.datasets import DatasetIndex
from inspector.errors import DatasetError
from inspector.model.thresholds import ThresholdRule
from training.batches import GOOD_ONLY, LABELS_ONLY, MASK_SUPERVISED
from training.config import TrainingConfig, build_config, with_defaults
from training.options import base_recipe, overrides

# The schedule options a user fixed on the command line: the budget leaves them.
FIXED = "fixed_schedule"


def layout_recipe(index: DatasetIndex) -> str:
    """What the folder holds decides: pixel masks give mask-supervised, labels alone labels-only."""
    return MASK_SUPERVISED if index.has_masks else LABELS_ONLY


def resolve_recipe(requested: str | None, index: DatasetIndex, good_only: bool = False) -> str:
    """auto (None): mask-supervised with masks/, labels-only without; --good-only wins over both."""
    if good_only or requested == GOOD_ONLY:
        return GOOD_ONLY
    if requested in (None, "auto"):
        return layout_recipe(index)
    if requested == MASK_SUPERVISED and not index.has_masks:
        raise DatasetError(f"{index.root}: recipe mask-supervised needs masks/<class>/<name>.png")
    return requested


def resolve_settings(args: argparse.Namespace, index: DatasetIndex | None) -> TrainingConfig:
    """The run's config (shipped recipe < recipe file < --set < options), written into `args` too,
    so the report records every value that trained (and a refit compares like with like)."""
    name = base_recipe(args, layout_recipe(index) if index is not None else None)
    if index is not None:
        name = resolve_recipe(name, index, args.good_only)
    # Epochs given on the command line are fixed; a recipe file's are the most the budget allows.
    fixed = getattr(args, FIXED, None) or sorted(k for k in ("crop_epochs", "epochs")
                                                 if getattr(args, k, None) is not None)
    config = build_config(with_defaults(name, overrides(args)))
    vars(args).update(config.model_dump())
    setattr(args, FIXED, fixed)
    return config


def threshold_rule(args: argparse.Namespace) -> ThresholdRule:
    """The REVIEW rule of a run whose settings are resolved."""
    return ThresholdRule(args.target_recall, args.max_false_reject, args.frr_confidence)
