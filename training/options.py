"""`inspector train`'s command-line options, and the checks run on them before training starts."""

from __future__ import annotations

import argparse
from pathlib import Path

from inspector.errors import ConfigError
from inspector.model.feature_bank import POOL
from inspector.model.preprocess import DEFAULT_VIEWS, VIEWS
from inspector.model.thresholds import GATE_FRR
from training.batches import GOOD_ONLY, LABELS_ONLY, MASK_SUPERVISED
from training.feature_bank import BANK_SIZE
from training.loop import AUTO_PRECISION, PRECISIONS
from training.prefetch import fork_available
from training.synthetic_defects import MIXES

RECIPES = ("auto", MASK_SUPERVISED, LABELS_ONLY, GOOD_ONLY)
MAX_ENSEMBLE = 8  # each network adds a whole training and a whole forward pass at the station
DESCRIPTION = "Train the defect network on an image-folder dataset and write a model bundle."


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspector train", description=DESCRIPTION)
    p.add_argument("dataset", type=Path, help="<class>/<image> or images/<class>/<image> (+ masks/)")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    p.add_argument("--split-csv", type=Path, default=None, help="image,label,split CSV")
    p.add_argument("--recipe", choices=RECIPES, default="auto",
                   help="auto: mask-supervised when the dataset has masks/, else labels-only")
    _add_gate_options(p)
    _add_synthetic_options(p)
    p.add_argument("--good-class", action="append", default=None, help="class meaning no defect")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, default=320)
    p.add_argument("--crop-epochs", type=int, default=None,
                   help="phase 1: epochs on crops (default: 110; 165 labels-only in bf16)")
    p.add_argument("--crop-steps", type=int, default=40, help="phase 1: steps per crop epoch")
    p.add_argument("--crop-batch", type=int, default=32)
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--crop-margin", type=int, default=None,
                   help="phase 1: px a crop may reach past the image edge, zero-filled like the "
                        "canvas padding, so tile-edge defects are seen against it (default: 32 "
                        "labels-only; 0: inside the image, the default otherwise)")
    p.add_argument("--epochs", type=int, default=None,
                   help="phase 2: epochs on full images (default: 58; 87 labels-only in bf16)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps-per-epoch", type=int, default=0, help="0: one pass over the train split")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--pos-weight", type=float, default=10.0, help="weight of defect pixels")
    p.add_argument("--label-smoothing", type=float, default=None,
                   help="share of each class target spread over all classes (default: 0.1 "
                        "labels-only, 0 otherwise)")
    p.add_argument("--focal-gamma", type=float, default=0.0,
                   help="weight each image's class loss by (1 - p(label))^G, so hard images count "
                        "most (0: the plain cross-entropy)")
    p.add_argument("--good-share", type=float, default=None,
                   help="share of the draws that are good images, of the first good class when "
                        "there are several; the other classes split the rest by sqrt(count) "
                        "(default: 0.6 labels-only; 0: every class by sqrt(count), the default "
                        "otherwise)")
    p.add_argument("--crop-good-share", type=float, default=None,
                   help="--good-share for the crop phase alone (default: the same as the full "
                        "canvases'; 0: every class by sqrt(count))")
    _add_stopping_options(p)
    p.add_argument("--ema-decay", type=float, default=0.0,
                   help="validate and ship an exponential moving average of the weights (0: off)")
    _add_threshold_options(p)
    p.add_argument("--tta", default=",".join(DEFAULT_VIEWS),
                   help=f"test-time views, comma separated (known: {', '.join(VIEWS)})")
    p.add_argument("--widths", default="32,32,48,64", help="encoder widths")
    p.add_argument("--head-width", type=int, default=64)
    _add_compute_options(p)
    p.add_argument("--name", default=None, help="model name (default: the out folder's name)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--refit-from", type=Path, default=None,
                   help="an inspector crossval folder of this recipe: train on every train+val image, "
                        "REVIEW threshold and kept epoch from the folds (no val split)")
    return p


def _add_stopping_options(p: argparse.ArgumentParser) -> None:
    """When the full-image phase may end before its last epoch."""
    p.add_argument("--patience", type=int, default=20, help="phase-2 epochs without val gain")
    p.add_argument("--stop-not-before", type=float, default=None,
                   help="share of the phase-2 epochs that always run before early stopping may end "
                        "it: earlier, the one-cycle learning rate is still high and one lucky val "
                        "epoch can outlast the patience (default: 0.75; 0 for mask-supervised, "
                        "whose shipped bundle was trained without the guard)")


def _add_compute_options(p: argparse.ArgumentParser) -> None:
    """How many networks, in what precision, on what hardware the training computes."""
    p.add_argument("--ensemble", type=int, default=None,
                   help="networks trained one after another (the k-th from seed + 1000 k) and "
                        "shipped as one graph averaging their probabilities (default: 1)")
    p.add_argument("--precision", choices=(*PRECISIONS, AUTO_PRECISION), default=None,
                   help="what the training's forward passes compute in; bf16 runs about twice "
                        "as fast on CPUs with AMX; auto: bf16 on such CPUs, fp32 elsewhere; weights "
                        "and the exported graph stay float32; the report records what ran "
                        "(default: auto labels-only, fp32 otherwise)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--loader-workers", type=int, default=0,
                   help="processes drawing batches ahead (0: drawn in the training process, the "
                        "reference stream; N gives another stream, repeatable for that N). For spare "
                        "cores, e.g. beside a GPU")


def _add_synthetic_options(p: argparse.ArgumentParser) -> None:
    """Synthetic defects, and how labels-only learns from real defects whose location is unknown."""
    p.add_argument("--synth-crop-p", type=float, default=0.5,
                   help="labels-only/good-only: share of good crops given a synthetic defect")
    p.add_argument("--synth-full-p", type=float, default=None,
                   help="share of good full images given a synthetic defect "
                        "(default 0.3 labels-only, 0.5 good-only)")
    p.add_argument("--synth-mix", choices=sorted(MIXES), default=None,
                   help="labels-only/good-only: mix of synthetic defect kinds (default: edges for "
                        "labels-only - stepped surfaces, edge pits and cracks added; v1 for good-only)")
    p.add_argument("--aux-weight", type=float, default=0.5,
                   help="labels-only: weight of the 'not good' loss on synthetic defects")
    p.add_argument("--mil-weight", type=float, default=0.5,
                   help="labels-only: weight of the defect-map-max loss on real defect images")
    p.add_argument("--locate-at", type=float, default=0.5,
                   help="labels-only: share of the crop epochs after which real defects are located "
                        "by the defect map's peak and cropped there too (>= 1: never)")
    p.add_argument("--pseudo-masks", action="store_true",
                   help="labels-only: a located real defect's crop also gets the pixel loss, with a "
                        "disk at the peak as defect, a ring around it ignored, the rest defect-free")


def _add_threshold_options(p: argparse.ArgumentParser) -> None:
    """The REVIEW rule: recall on val first, lowered within a false-reject budget."""
    p.add_argument("--target-recall", type=float, default=0.99, help="defect recall on val")
    p.add_argument("--max-false-reject", type=float, default=None,
                   help="false-reject budget spent on recall: REVIEW is lowered as far as the val good "
                        "parts say new good parts stay within it (default: 0.05 labels-only, the "
                        "issue-8 target; 0.01 otherwise)")
    p.add_argument("--frr-confidence", type=float, default=None,
                   help="read the budget as a one-sided upper confidence bound at this level rather "
                        "than the expected rate (default: 0.95 labels-only; 0: the expected rate, "
                        "the default otherwise)")


def _add_gate_options(p: argparse.ArgumentParser) -> None:
    """The good-only gate: training one, its bank, and attaching or fusing one into a classifier."""
    p.add_argument("--good-only", action="store_true",
                   help="train an anomaly gate on the good images only (recipe good-only)")
    p.add_argument("--gate", type=Path, default=None,
                   help="good-only gate bundle to attach (anomaly.onnx + thresholds.anomaly)")
    p.add_argument("--fuse-gate", action="store_true",
                   help="with --gate: fuse the gate into the defect score (calibrated on val) "
                        "instead of an OR rule")
    p.add_argument("--gate-frr", type=float, default=GATE_FRR,
                   help="good-only: anomaly threshold at this false-reject rate expected on new good "
                        "parts (read from the val good images)")
    p.add_argument("--bank-size", type=int, default=BANK_SIZE,
                   help="good-only: good patches kept in the feature bank (0: p(anomaly) alone)")
    p.add_argument("--bank-pool", type=int, default=POOL,
                   help="good-only: feature cells per side of a banked window (1: single cells)")
    p.add_argument("--no-image-bank", action="store_true",
                   help="good-only: leave out the whole-image distance (window distance only)")
    p.add_argument("--gate-p-weight", type=float, default=0.0,
                   help="good-only: share of p(anomaly) in the gate score (the rest: feature distance)")


def check_args(args: argparse.Namespace) -> None:
    """Refuse values that would fail, or quietly do nothing, only after minutes of training."""
    if not (args.ema_decay == 0 or 0 < args.ema_decay < 1):
        raise ConfigError(f"--ema-decay must be 0 (off) or lie strictly between 0 and 1, "
                          f"got {args.ema_decay}")
    views = [v.strip() for v in args.tta.split(",") if v.strip()]
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ConfigError(f"--tta: unknown view(s) {', '.join(unknown)}; known: {', '.join(VIEWS)}")
    if len(set(views)) != len(views):
        raise ConfigError(f"--tta: a view is named twice in {args.tta!r}")
    args.tta = ",".join(views)  # the card records the names as checked
    if args.patience < 1:
        raise ConfigError(f"--patience must be 1 or more, got {args.patience}")
    if args.stop_not_before is not None and not 0 <= args.stop_not_before <= 1:
        raise ConfigError(f"--stop-not-before must lie in [0, 1], got {args.stop_not_before}")
    if args.loader_workers < 0:
        raise ConfigError(f"--loader-workers must be 0 or more, got {args.loader_workers}")
    if args.loader_workers > 0 and not fork_available():
        raise ConfigError("--loader-workers needs processes forked from the trainer (Linux); "
                          "leave it at 0 on this platform")
    if args.label_smoothing is not None and not 0 <= args.label_smoothing < 1:
        raise ConfigError(f"--label-smoothing must lie in [0, 1), got {args.label_smoothing}")
    # Below 1 the weight's slope is infinite at p(label) = 1: a sure image would give NaN gradients.
    if not (args.focal_gamma == 0 or 1 <= args.focal_gamma <= 5):
        raise ConfigError(f"--focal-gamma must be 0 (off) or lie in [1, 5], got {args.focal_gamma}")
    for name in ("good_share", "crop_good_share"):
        share = getattr(args, name)
        if share is not None and not 0 <= share < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be 0 (every class by sqrt(count)) or "
                              f"lie strictly between 0 and 1, got {share}")
    if args.max_false_reject is not None and not 0 <= args.max_false_reject < 1:
        raise ConfigError(f"--max-false-reject must lie in [0, 1), got {args.max_false_reject}")
    if args.frr_confidence is not None and not 0 <= args.frr_confidence < 1:
        raise ConfigError(f"--frr-confidence must be 0 (the expected rate) or lie strictly between 0 "
                          f"and 1, got {args.frr_confidence}")
    if args.crop_margin is not None and not (args.crop_margin == 0
                                             or 0 < args.crop_margin < args.crop_size // 2):
        raise ConfigError(f"--crop-margin must lie in [0, {args.crop_size // 2}) (under half a "
                          f"--crop-size {args.crop_size} crop), got {args.crop_margin}")
    if args.ensemble is not None and not 1 <= args.ensemble <= MAX_ENSEMBLE:
        raise ConfigError(f"--ensemble must lie in [1, {MAX_ENSEMBLE}], got {args.ensemble}")
    if (args.ensemble or 1) > 1 and args.good_only:
        raise ConfigError("--ensemble averages classifiers; a good-only gate is one network "
                          "(its feature bank is built from one encoder)")
    if (args.ensemble or 1) > 1 and args.refit_from is not None:
        raise ConfigError("--refit-from trains one network to the epoch the folds kept; "
                          "it takes no --ensemble above 1")
    if args.bank_pool < 1:
        raise ConfigError(f"--bank-pool must be at least 1, got {args.bank_pool}")
    if args.fuse_gate and args.gate is None:
        raise ConfigError("--fuse-gate needs a gate to fuse: add --gate GATE_BUNDLE")
    if args.fuse_gate and args.good_only:
        raise ConfigError("--fuse-gate fuses a gate into a classifier, not into a good-only gate")
    if args.refit_from is not None and (args.good_only or args.gate is not None):
        # The gate's fusion and threshold are calibrated on val, which a refit trains on.
        raise ConfigError("--refit-from trains a classifier on train+val: it takes no --good-only "
                          "or --gate (attach a gate to the refitted bundle afterwards)")
