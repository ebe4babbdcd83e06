"""`inspector train`: train the defect network on an image-folder dataset and write a model bundle."""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import random
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inspector.datasets import DatasetIndex, content_hash, pick_good_classes, scan_dataset
from inspector.errors import ConfigError, DatasetError, InspectorError
from inspector.machine import cpu_model
from inspector.model import metrics
from inspector.model.card import ModelCard, Thresholds
from inspector.model.evaluation import evaluate, headline, score_samples, summarise
from inspector.model.feature_bank import TOP_K
from inspector.model.gate import attach_gate, fuse_gate
from inspector.model.loader import load_classifier
from inspector.model.network import SegDecEnsemble, build_network
from inspector.model.onnx_backend import ONNX_FILE, bank_file_for
from inspector.model.preprocess import place, standardise
from inspector.model.quality import fit_profile_from_files
from inspector.model.thresholds import ThresholdRule, gate_threshold, val_warning
from inspector.model.thresholds import choose as choose_thresholds_by_rule
from training import anomaly, feature_bank
from training import report as reports
from training.augment import AugmentConfig
from training.batches import GOOD_ONLY, LABELS_ONLY, MASK_SUPERVISED, BalancedSampler, SynthConfig
from training.data import CachedSplit, load_split
from training.ema import WeightAverage
from training.export import write_bundle
from training.locate import locate_defects
from training.loop import AUTO_PRECISION, LossConfig, fast_bf16, predict_probs, resolve_precision, train_step
from training.options import check_args, get_args_parser
from training.prefetch import epoch_batches
from training.refit import RefitPlan, check_same_recipe, load_plan, refit_index

logger = logging.getLogger(__name__)

LABELS_ONLY_SMOOTHING = 0.1  # adopted by its 3-seed rule, docs/issue8-results.md
LABELS_ONLY_GOOD_SHARE = 0.6  # likewise (2026-12-05); 0 leaves every class to sqrt(count)
LABELS_ONLY_CROP_MARGIN = 32  # likewise (2026-12-05, tenth session): crops reach past the tile edge
# Labels-only thresholds spend the issue-8 false-reject target (0.05) on recall margin, as far as
# the val good parts show it at 95 % confidence (docs/issue8-results.md, 2026-12-05, ninth session).
LABELS_ONLY_FRR_BUDGET = 0.05
LABELS_ONLY_FRR_CONFIDENCE = 0.95
# Early stopping waits for the one-cycle schedule's last quarter, where the learning rate is low:
# a labels-only bf16 pilot stopped at full epoch 24 of 58 on one lucky epoch at 0.59 of the peak
# rate (docs/issue8-results.md, eleventh session). Mask-supervised keeps its shipped behaviour.
STOP_NOT_BEFORE = 0.75
CROP_EPOCHS, EPOCHS = 110, 58  # the budget that fits 30 min on 2 cores in float32
# Labels-only trains in bf16 where that is fast (AMX CPUs) and spends the time saved on a 1.5x
# schedule: adopted by its 3-seed rule (docs/issue8-results.md, twelfth session).
LABELS_ONLY_BF16_CROP_EPOCHS, LABELS_ONLY_BF16_EPOCHS = 165, 87
PHASES = ("crops", "full")  # a training's two phases, in order (a batch stream's key holds the index)
MEMBER_SEED_STEP = 1000  # an ensemble's k-th network trains from seed + 1000 k: clear of nearby seeds


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
    gate: dict | None = None           # attached gate's card
    feature_bank: dict | None = None   # good-only: the bank's card entry (top_k, calibration)
    fusion: dict | None = None         # --fuse-gate: the calibration fusing the gate in
    quality: dict | None = None        # image-quality limits learnt from the train images
    weights_hash: str = ""             # of the exported model.onnx, once written
    refit: RefitPlan | None = None     # --refit-from: no val; threshold and epoch from the folds
    history: list[dict] = field(default_factory=list)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def resolve_recipe(requested: str, index: DatasetIndex, good_only: bool = False) -> str:
    """auto: mask-supervised with masks/, labels-only without; --good-only wins over both."""
    if good_only or requested == GOOD_ONLY:
        return GOOD_ONLY
    if requested == "auto":
        return MASK_SUPERVISED if index.has_masks else LABELS_ONLY
    if requested == MASK_SUPERVISED and not index.has_masks:
        raise DatasetError(f"{index.root}: recipe mask-supervised needs masks/<class>/<name>.png")
    return requested


def _prepare_good_only(args: argparse.Namespace) -> Run:
    """Good rows only, classes [good, anomaly]; val good rows plus synthetic copies pick the epoch."""
    index = anomaly.scan_good_only(args.dataset, args.split_csv, args.seed)
    good = anomaly.good_classes_of(index, args.good_class)
    train_rows, val_rows = (anomaly.good_rows(index, split, good) for split in ("train", "val"))
    classes = [good[0], anomaly.ANOMALY if good[0] != anomaly.ANOMALY else "anomalous"]
    run = Run(args, index, [good[0]], GOOD_ONLY, _pick_device(args.device), classes)
    run.train = load_split(train_rows, classes, args.input_size, False, {good[0]})
    run.val = load_split(val_rows, classes, args.input_size, False, {good[0]})
    if len(run.train) == 0 or len(run.val) == 0:
        raise DatasetError(f"{args.dataset}: no readable good images in the train or val split")
    run.select = anomaly.synthetic_val(run.val, args.seed)
    resolve_recipe_defaults(run)
    return run


def prepare_run(args: argparse.Namespace, index: DatasetIndex | None = None) -> Run:
    """Load the train and val rows; `index` replaces the dataset's own split (cross-validation)."""
    if getattr(args, "good_only", False) or args.recipe == GOOD_ONLY:
        if index is not None:
            raise ConfigError("a good-only gate reads its own good rows: it takes no prepared split")
        return _prepare_good_only(args)
    if index is None:
        # A refit reads the split the cross-validation pooled: seed 0's, like crossval.
        index = scan_dataset(args.dataset, args.split_csv, seed=0 if args.refit_from else args.seed)
    plan, fold_args = load_plan(args.refit_from) if args.refit_from else (None, [])
    if plan is not None:
        index = refit_index(index, plan)
    good = pick_good_classes(index.classes, args.good_class)
    for split in ("train",) if plan else ("train", "val"):
        empty = [c for c, n in index.counts(split).items() if n == 0]
        if empty:
            raise DatasetError(f"{args.dataset}: the {split} split has no images of {', '.join(empty)}")
    recipe = resolve_recipe(args.recipe, index)
    run = Run(args, index, good, recipe, _pick_device(args.device), list(index.classes), refit=plan)
    resolve_recipe_defaults(run)  # before a refit compares them with the crossval's
    if plan is not None:
        check_same_recipe(args, fold_args)
    use_masks = recipe == MASK_SUPERVISED
    run.train = load_split(index.split("train"), index.classes, args.input_size, use_masks, set(good))
    run.val = load_split(index.split("val"), index.classes, args.input_size, False, set(good))
    if len(run.train) == 0 or (len(run.val) == 0 and plan is None):
        raise DatasetError(f"{args.dataset}: no readable images in the train or val split")
    return run


def _val_canvases(val: CachedSplit, size: int) -> np.ndarray:
    """Validation inputs prepared exactly like serving (standardise, centre on the canvas)."""
    return np.stack([place(standardise(img), size)[0] for img in val.images])[:, None]


def _val_figures(run: Run, probs: np.ndarray) -> dict:
    labels = np.asarray((run.select or run.val).labels)
    good_idx = [run.classes.index(c) for c in run.good]
    score = 1.0 - probs[:, good_idx].sum(axis=1)
    is_defect = ~np.isin(labels, good_idx)
    cm = metrics.confusion_matrix(labels, probs.argmax(axis=1), len(run.classes))
    thr = metrics.threshold_for_recall(is_defect, score, run.args.target_recall)
    _, frr = metrics.flag_rates(is_defect, score >= thr)
    auc = metrics.auroc(is_defect, score) or 0.0
    f1 = metrics.macro_f1(cm)
    return {"val_macro_f1": f1, "val_auroc": auc, "val_frr": frr, "select": f1 + auc - frr}


def _build_model(run: Run) -> torch.nn.Module:
    widths = [int(w) for w in run.args.widths.split(",")]
    net = build_network("segdec", len(run.classes), 1, widths=widths, head_width=run.args.head_width)
    return net.to(run.device).to(memory_format=torch.channels_last)


def _steps_per_epoch(run: Run) -> int:
    return run.args.steps_per_epoch or math.ceil(len(run.train) / run.args.batch)


def resolve_recipe_defaults(run: Run) -> None:
    """Fill the options the command left open with the recipe's defaults, written back into the
    args so the report records what was trained (and a refit compares like with like)."""
    args, gate = run.args, run.recipe == GOOD_ONLY
    if args.synth_full_p is None:
        args.synth_full_p = 0.5 if gate else 0.3
    # The gate keeps the mix it was trained and chosen with; labels-only adopted `edges`, smoothed
    # class targets, a larger good share of the draws and crops past the tile edge by 3-seed rules
    # (docs/issue8-results.md).
    if args.synth_mix is None:
        args.synth_mix = "v1" if gate else "edges"
    if args.label_smoothing is None:
        args.label_smoothing = LABELS_ONLY_SMOOTHING if run.recipe == LABELS_ONLY else 0.0
    if args.good_share is None:
        args.good_share = LABELS_ONLY_GOOD_SHARE if run.recipe == LABELS_ONLY else 0.0
    if args.crop_margin is None:
        args.crop_margin = LABELS_ONLY_CROP_MARGIN if run.recipe == LABELS_ONLY else 0
    if args.ensemble is None:
        args.ensemble = 1
    # What ran, not what was asked: the report and a refit compare concrete precisions.
    labels_only = run.recipe == LABELS_ONLY
    args.precision = resolve_precision(args.precision or (AUTO_PRECISION if labels_only else "fp32"),
                                       run.device)
    longer = labels_only and args.precision == "bf16"
    if args.crop_epochs is None:
        args.crop_epochs = LABELS_ONLY_BF16_CROP_EPOCHS if longer else CROP_EPOCHS
    if args.epochs is None:
        args.epochs = LABELS_ONLY_BF16_EPOCHS if longer else EPOCHS
    if args.stop_not_before is None:
        args.stop_not_before = 0.0 if run.recipe == MASK_SUPERVISED else STOP_NOT_BEFORE
    if args.max_false_reject is None:
        args.max_false_reject = (LABELS_ONLY_FRR_BUDGET if run.recipe == LABELS_ONLY
                                 else ThresholdRule.max_false_reject)
    if args.frr_confidence is None:
        args.frr_confidence = LABELS_ONLY_FRR_CONFIDENCE if run.recipe == LABELS_ONLY else 0.0


def threshold_rule(args: argparse.Namespace) -> ThresholdRule:
    """The REVIEW rule of a run whose recipe defaults are resolved."""
    return ThresholdRule(args.target_recall, args.max_false_reject, args.frr_confidence)


def synth_config(run: Run) -> SynthConfig:
    """The synthetic-defect settings of a prepared run (its recipe defaults resolved)."""
    args = run.args
    return SynthConfig(args.synth_crop_p, args.synth_full_p, args.synth_mix, args.pseudo_masks)


@dataclass
class Fitting:
    """One network's training: what each step needs, and the seed its batch stream is keyed by."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    sampler: BalancedSampler
    loss_cfg: LossConfig
    ema: WeightAverage | None
    seed: int
    member: int | None  # the network's place in an ensemble; None when it is the only one

    @property
    def judged(self) -> torch.nn.Module:
        """The network validated, kept and shipped: the weight average when there is one."""
        return self.ema.module if self.ema is not None else self.model


def member_seed(seed: int, member: int) -> int:
    """The seed an ensemble's `member`-th network trains from (member 0: the run's own seed)."""
    return seed + MEMBER_SEED_STEP * member


def fit_ensemble(run: Run) -> torch.nn.Module:
    """--ensemble N: N networks one after another, each from its own seed and with its own val
    checkpoint, averaged in one graph; one network is returned as itself."""
    count = run.args.ensemble
    nets = []
    for k in range(count):
        seed = member_seed(run.args.seed, k)
        if k:  # member 0 runs exactly as a single network of this seed would
            _seed_everything(seed)
            logger.info("ensemble member %d of %d (seed %d)", k + 1, count, seed)
        nets.append(fit(run, seed, k if count > 1 else None))
    return nets[0] if count == 1 else SegDecEnsemble.of(nets)


def fit(run: Run, seed: int, member: int | None) -> torch.nn.Module:
    """One network from `seed`: two phases (crops with pixel loss, then full canvases) under one
    one-cycle schedule; `member` names it in the history when the run trains several."""
    args = run.args
    model = _build_model(run)
    crop_epochs = args.crop_epochs
    total = crop_epochs * args.crop_steps + args.epochs * _steps_per_epoch(run)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(total, 1))
    good_index = run.classes.index(run.good[0])
    sampler = BalancedSampler(run.train, len(run.classes), good_index, args.input_size, seed,
                              augment=AugmentConfig(crop_margin=args.crop_margin),
                              recipe=run.recipe, synth=synth_config(run), good_share=args.good_share,
                              crop_good_share=args.crop_good_share)
    loss_cfg = LossConfig(args.pos_weight, True, good_index, args.aux_weight, args.mil_weight,
                          args.label_smoothing, args.focal_gamma)
    ema = WeightAverage(model, args.ema_decay) if args.ema_decay > 0 else None
    fitting = Fitting(model, opt, sched, sampler, loss_cfg, ema, seed, member)
    _phase_crops(run, fitting, crop_epochs)
    return _phase_full(run, fitting)


def _logged(fitting: Fitting, entry: dict) -> dict:
    """A history entry, naming its network when the run trains several."""
    return entry if fitting.member is None else {"member": fitting.member, **entry}


def _phase_crops(run: Run, fitting: Fitting, epochs: int) -> None:
    args, sampler = run.args, fitting.sampler
    first_locate = math.ceil(args.locate_at * epochs) if run.recipe == LABELS_ONLY else math.inf
    bar = tqdm(range(epochs), desc="crops", disable=args.no_progress, file=sys.stderr)
    for epoch in bar:
        if epoch >= first_locate and (epoch - first_locate) % 10 == 0:
            # Real defects join the crops where the map (trained on synthetic defects) peaks.
            sampler.pseudo = locate_defects(fitting.model, run.train, sampler.good_index, args.input_size,
                                            run.device, precision=args.precision)
        losses = _epoch_losses(run, fitting, "crops", epoch)
        cls_loss, seg_loss = np.mean(losses, axis=0)
        run.history.append(_logged(fitting, {"phase": "crops", "epoch": epoch, "cls_loss": cls_loss,
                                             "seg_loss": seg_loss}))
        bar.set_postfix(cls=f"{cls_loss:.3f}", seg=f"{seg_loss:.3f}")
        if args.no_progress and epoch % 10 == 0:
            logger.info("crops epoch %d: cls %.3f seg %.3f", epoch, cls_loss, seg_loss)


def _epoch_losses(run: Run, fitting: Fitting, phase: str, epoch: int) -> list[tuple[float, float]]:
    """Train one epoch of a phase; its batches are drawn here or by --loader-workers processes."""
    args = run.args
    if phase not in PHASES:
        raise ValueError(f"unknown training phase {phase!r}")
    if phase == "crops":
        steps = args.crop_steps
        def draw(s):
            return s.crop_items(args.crop_batch, args.crop_size)
    else:
        steps = _steps_per_epoch(run)
        def draw(s):
            return s.full_items(args.batch)
    key = (fitting.seed, PHASES.index(phase), epoch)
    batches = epoch_batches(fitting.sampler, draw, steps, args.loader_workers, key)
    # closing: a step that raises must still stop the epoch's workers, not leave them to the GC
    with contextlib.closing(batches):
        return [_step(fitting, batch, run.device, args.precision) for batch in batches]


def _step(fitting: Fitting, batch, device, precision: str) -> tuple[float, float]:
    values = train_step(fitting.model, fitting.opt, fitting.sched, batch, device, fitting.loss_cfg,
                        precision)
    if fitting.ema is not None:
        fitting.ema.update()
    return values


def _phase_full(run: Run, fitting: Fitting) -> torch.nn.Module:
    if run.refit is not None:
        return _phase_full_refit(run, fitting)
    judged = fitting.judged
    args = run.args
    canvases = _val_canvases(run.select or run.val, args.input_size)
    best, best_state, since_best = -math.inf, copy.deepcopy(judged.state_dict()), 0
    bar = tqdm(range(args.epochs), desc="full", disable=args.no_progress, file=sys.stderr)
    for epoch in bar:
        losses = _epoch_losses(run, fitting, "full", epoch)
        figures = _val_figures(run, predict_probs(judged, canvases, run.device, precision=args.precision))
        cls_loss, seg_loss = np.mean(losses, axis=0)
        run.history.append(_logged(fitting, {"phase": "full", "epoch": epoch, "cls_loss": cls_loss,
                                             "seg_loss": seg_loss, **figures}))
        bar.set_postfix(cls=f"{cls_loss:.3f}", f1=f"{figures['val_macro_f1']:.3f}",
                        auc=f"{figures['val_auroc']:.3f}", frr=f"{figures['val_frr']:.3f}")
        if args.no_progress:
            logger.info("full epoch %d: cls %.3f seg %.3f val f1 %.3f auroc %.3f frr %.3f", epoch,
                        cls_loss, seg_loss, figures["val_macro_f1"], figures["val_auroc"], figures["val_frr"])
        if figures["select"] >= best:
            best, best_state, since_best = figures["select"], copy.deepcopy(judged.state_dict()), 0
        else:
            since_best += 1
        if may_stop_early(epoch, since_best, args):
            logger.info("early stop at epoch %d: no val gain for %d epochs", epoch, args.patience)
            break
    judged.load_state_dict(best_state)
    return judged.cpu()


def may_stop_early(epoch: int, since_best: int, args: argparse.Namespace) -> bool:
    """Patience ran out, and the guarded share of the phase-2 epochs (0-based `epoch`) has run."""
    guarded = math.ceil(args.stop_not_before * args.epochs)
    return since_best >= args.patience and epoch + 1 >= guarded


def _phase_full_refit(run: Run, fitting: Fitting) -> torch.nn.Module:
    """No val to judge by: train the same schedule up to the epoch the folds kept, and keep that."""
    args = run.args
    last = min(run.refit.keep_epoch, args.epochs - 1)
    for epoch in tqdm(range(last + 1), desc="full", disable=args.no_progress, file=sys.stderr):
        losses = _epoch_losses(run, fitting, "full", epoch)
        cls_loss, seg_loss = np.mean(losses, axis=0)
        run.history.append({"phase": "full", "epoch": epoch, "cls_loss": cls_loss, "seg_loss": seg_loss})
        if args.no_progress:
            logger.info("full epoch %d of %d (refit): cls %.3f seg %.3f", epoch, last, cls_loss, seg_loss)
    return fitting.judged.cpu()


def _code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _card(run: Run, thresholds: Thresholds, data_hash: str, metrics_: dict) -> ModelCard:
    args = run.args
    return ModelCard(
        name=args.name or args.out.name, arch="segdec" if args.ensemble == 1 else "segdec-ensemble",
        classes=run.classes, good_classes=run.good, input_size=args.input_size, thresholds=thresholds,
        arch_params={"widths": [int(w) for w in args.widths.split(",")], "head_width": args.head_width,
                     **({"members": args.ensemble} if args.ensemble > 1 else {})},
        tta_views=[v for v in args.tta.split(",") if v], recipe=run.recipe, data_hash=data_hash,
        weights_hash=run.weights_hash,
        metrics=metrics_, command=getattr(args, "command", "") or " ".join(sys.argv),
        code_version=_code_version(), created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gate=run.gate, feature_bank=run.feature_bank, fusion=run.fusion, quality=run.quality,
    )


def choose_thresholds(run: Run, folder: Path) -> tuple[Thresholds, dict]:
    """On val with the exported bundle: REVIEW by the threshold rule, NG at max(review, 0.5)."""
    scored = score_samples(load_classifier(folder, "onnx", threads=run.args.threads),
                           run.val.samples)
    if run.recipe == GOOD_ONLY:
        # Good images only: the threshold holds false rejects at --gate-frr; a gate never says NG.
        return gate_threshold(scored.defect_scores, run.args.gate_frr), {"val_scores": scored}
    is_defect = np.array([s.label not in run.good for s in scored.samples])
    return choose_thresholds_by_rule(is_defect, scored.defect_scores, threshold_rule(run.args)), \
        {"val_scores": scored}


def _finish(run: Run, model: torch.nn.Module, elapsed: float) -> dict:
    # The station refuses frames outside what the training images look like (card.quality).
    run.quality = fit_profile_from_files(s.path for s in run.train.samples).to_dict()
    if run.refit is not None:
        return _finish_refit(run, model, elapsed)
    args = run.args
    index = run.index
    if run.recipe == GOOD_ONLY:  # the gate saw the good rows only: hash just those
        index = dataclasses.replace(index, samples=[s for s in index.samples if s.label in run.good])
    data_hash = content_hash(index)
    banked = run.recipe == GOOD_ONLY and args.bank_size > 0
    if banked:  # a card with a feature bank makes the exported graph output the patch features
        run.feature_bank = {"top_k": TOP_K, "calibration": None}
    provisional = _card(run, Thresholds(ng=0.5, review=0.5), data_hash, {})
    run.weights_hash = write_bundle(model, provisional, args.out)
    provisional = dataclasses.replace(provisional, weights_hash=run.weights_hash)
    if banked:
        _add_feature_bank(run, model, provisional)
    thresholds, extra = choose_thresholds(run, args.out)
    card = _card(run, thresholds, data_hash, {})
    card.save(args.out)
    if args.gate is not None:
        card = attach_gate(args.out, args.gate)
        if args.fuse_gate:
            card = fuse_gate(args.out, run.val.samples, threshold_rule(args))
        run.gate, run.fusion, thresholds = card.gate, card.fusion, card.thresholds
    clf = load_classifier(args.out, "onnx", threads=args.threads)
    if clf.gate is not None:  # the val scores were taken before the gate came: score again
        extra["val_scores"] = score_samples(clf, run.val.samples)
        if run.fusion is None:  # OR rule: the gate spends what REVIEW left of the budget
            thresholds = _thresholds_with_or_gate(run, extra["val_scores"])
            clf.card = dataclasses.replace(clf.card, thresholds=thresholds)
    val_metrics = summarise(clf, extra["val_scores"])
    warning = _val_warning(run, extra["val_scores"], thresholds)
    if warning:
        logger.warning("%s", warning)
    test_samples = run.index.split("test")
    test_metrics = evaluate(clf, test_samples) if test_samples else None
    figures = {"val": headline(val_metrics), "test": headline(test_metrics) if test_metrics else None,
               "train_minutes": round(elapsed / 60, 2),
               # `inspector tune-thresholds` re-applies the rule the bundle was trained with.
               "threshold_rule": dataclasses.asdict(_val_rule(run)),
               "trained_on": compute_identity(run.device)}
    card = _card(run, thresholds, data_hash, figures)
    card.save(args.out)
    report = {**_report(run, card, val_metrics, test_metrics, elapsed, extra["val_scores"]),
              "threshold_warning": warning}
    _plots(run, clf, card, test_metrics or val_metrics, test_samples or run.val.samples)
    reports.write_report(args.out, report)
    return report


def _thresholds_with_or_gate(run: Run, scored) -> Thresholds:
    """The rule's thresholds again, now with the attached gate's val anomaly scores (choose)."""
    is_defect = np.array([s.label not in run.good for s in scored.samples])
    return choose_thresholds_by_rule(is_defect, scored.defect_scores, threshold_rule(run.args),
                                     scored.anomaly_scores)


def _finish_refit(run: Run, model: torch.nn.Module, elapsed: float) -> dict:
    """A refit's bundle: the folds' thresholds, the cross-validation's figures in place of val's."""
    args, plan = run.args, run.refit
    data_hash = content_hash(run.index)
    run.weights_hash = write_bundle(model, _card(run, plan.thresholds, data_hash, {}), args.out)
    clf = load_classifier(args.out, "onnx", threads=args.threads)
    test_samples = run.index.split("test")
    test_metrics = evaluate(clf, test_samples) if test_samples else None
    figures = {"crossval": plan.pooled, "val": None,
               "test": headline(test_metrics) if test_metrics else None,
               "train_minutes": round(elapsed / 60, 2), "trained_on": compute_identity(run.device)}
    card = _card(run, plan.thresholds, data_hash, figures)
    card.save(args.out)
    refit = {"from": plan.source, "folds": plan.folds, "keep_epoch": plan.keep_epoch,
             "fold_epochs": plan.fold_epochs, "crossval": plan.pooled}
    report = {**_report(run, card, None, test_metrics, elapsed, None), "threshold_warning": None,
              "refit": refit}
    if test_metrics:
        _plots(run, clf, card, test_metrics, test_samples)
    reports.write_report(args.out, report)
    return report


def _val_warning(run: Run, scored, thresholds: Thresholds) -> str | None:
    """What the val split cannot promise of REVIEW: the false-reject budget it spends, the recall."""
    good = np.array([s.label in run.good for s in scored.samples], dtype=bool)
    n_defect = 0 if run.recipe == GOOD_ONLY else int((~good).sum())  # a gate has no recall target
    return val_warning(scored.defect_scores[good], n_defect, thresholds.review, _val_rule(run))


def _val_rule(run: Run) -> ThresholdRule:
    """The rule REVIEW was set by: a gate's is its false-reject rate on good parts alone."""
    if run.recipe == GOOD_ONLY:
        return ThresholdRule(run.args.target_recall, run.args.gate_frr)
    return threshold_rule(run.args)


def _add_feature_bank(run: Run, model: torch.nn.Module, provisional: ModelCard) -> None:
    """Good-only: bank the good training windows and images beside the graph, calibrate (ONNX)."""
    args = run.args
    bank = feature_bank.build_bank(model, run.train.samples, args.input_size, torch.device("cpu"),
                                   args.seed, args.bank_size, args.bank_pool,
                                   not args.no_image_bank)
    bank.save(args.out / bank_file_for(ONNX_FILE))
    # The runtime reads the bank's layout (window size, image bank) from the card on disk.
    dataclasses.replace(provisional, feature_bank=bank.config()).save(args.out)
    calibration = feature_bank.calibrate(load_classifier(args.out, "onnx", threads=args.threads),
                                         run.val.samples, args.gate_p_weight)
    run.feature_bank = {**bank.config(), "calibration": dataclasses.asdict(calibration)}
    # choose_thresholds loads the bundle from disk: it must score with the calibrated bank.
    dataclasses.replace(provisional, feature_bank=run.feature_bank).save(args.out)


def scored_rows(scored, root: Path, classes: list[str]) -> list[dict]:
    """Each scored image's defect score, class probabilities and predicted class, as the report keeps them."""
    return [{"image": s.rel(root), "label": s.label, "defect_score": float(score),
             "predicted": classes[int(np.argmax(probs))],
             "probs": {c: round(float(p), 6) for c, p in zip(classes, probs, strict=True)}}
            for s, score, probs in zip(scored.samples, scored.defect_scores, scored.probs, strict=True)]


def compute_identity(device: torch.device) -> dict:
    """What a bit-for-bit rebuild needs to match: the same seed and data repeat the same network
    only with the same torch, thread count and CPU kernels (AVX2 and AVX-512 kernels round
    differently, and one training step apart the weights already differ). bf16 runs on AMX tiles
    where the CPU has them, so that is named too."""
    identity = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu": cpu_model(),
                "amx_bf16": fast_bf16("cpu")}
    if device.type == "cuda":
        identity["gpu"] = torch.cuda.get_device_name(device)
    return identity


def _report(run: Run, card: ModelCard, val_m: dict | None, test_m: dict | None, elapsed: float,
            val_scored) -> dict:
    args = {k: str(v) if isinstance(v, Path) else v for k, v in vars(run.args).items()}
    return {
        "card": card.name, "recipe": run.recipe, "args": args, "device": str(run.device),
        "compute": compute_identity(run.device),
        "classes": run.classes, "good_classes": run.good,
        "counts": {s: run.index.counts(s) for s in ("train", "val", "test")},
        "skipped_images": {"count": len(run.train.skipped) + len(run.val.skipped),
                           "files": run.train.skipped + run.val.skipped},
        "train_seconds": round(elapsed, 1), "history": run.history,
        "val_scored": scored_rows(val_scored, run.index.root, run.classes) if val_scored is not None else [],
        "thresholds": {"ng": card.thresholds.ng, "review": card.thresholds.review,
                       "anomaly": card.thresholds.anomaly},
        "val": val_m, "test": test_m,
    }


def _plots(run: Run, clf, card: ModelCard, m: dict, samples) -> None:
    which = "test" if m.get("n") and run.index.split("test") else "val"
    reports.confusion_png(m["confusion"]["matrix"], card.classes, run.args.out / "confusion.png",
                          f"{card.name}: {which} split (n={m['n']})")
    scored = score_samples(clf, samples)
    is_defect = np.array([s.label not in card.good_classes for s in scored.samples])
    reports.score_histogram_png(scored.defect_scores, is_defect,
                                {"review": card.thresholds.review, "ng": card.thresholds.ng},
                                run.args.out / "score_histogram.png", f"{card.name}: {which} split")


def main(args: argparse.Namespace, index: DatasetIndex | None = None) -> dict:
    """Train, export, choose thresholds on val, evaluate, report. Returns the report dict."""
    check_args(args)
    _seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    run = prepare_run(args, index)
    logger.info("recipe %s on %d train / %d val images (%s)", run.recipe, len(run.train), len(run.val),
                run.device)
    if args.out.exists() and (args.out / "card.json").exists():
        shutil.rmtree(args.out)  # replace an old bundle whole, never mix files of two runs
    start = time.monotonic()
    model = fit_ensemble(run)
    return _finish(run, model, time.monotonic() - start)


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None, run, summary) -> int:
    """A training command's entry: parse, run, print summary(args, result) as one JSON line;
    exit 2 with a clear message on bad input."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser.parse_args(argv)
    args.command = os.environ.get("INSPECTOR_TRAIN_COMMAND", "")
    try:
        result = run(args)
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary(args, result)))
    return 0


def _summary(args: argparse.Namespace, report: dict) -> dict:
    split = "test" if report.get("test") else "val" if report.get("val") else "crossval"
    shown = report.get("test") or report.get("val") or report["refit"]["crossval"]
    figures = {k: shown.get(k) for k in ("n", "macro_f1", "defect_recall", "false_reject_rate", "auroc")}
    return {"bundle": str(args.out), "recipe": report["recipe"], "train_seconds": report["train_seconds"],
            "split": split, **figures}


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry (`inspector train` runs it)."""
    return run_command(get_args_parser(), argv, main, _summary)


if __name__ == "__main__":
    sys.exit(cli())
