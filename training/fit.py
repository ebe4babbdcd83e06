"""The fit loops: one network through its two phases (crops, then full canvases) under one schedule."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from inspector.model import metrics
from inspector.model.network import build_network
from inspector.model.preprocess import Canvas, place, standardise
from training.augment import AugmentConfig
from training.batches import LABELS_ONLY, BalancedSampler, SynthConfig
from training.budget import LOCATE_EVERY, Eta, Job
from training.canvas import canvas_of
from training.data import CachedSplit
from training.locate import locate_defects
from training.loop import LossConfig, predict_probs, train_step
from training.prefetch import epoch_batches
from training.prepare import Run

logger = logging.getLogger(__name__)
PHASES = ("crops", "full")  # a training's two phases, in order (a batch stream's key holds the index)


@dataclass
class Fitting:
    """One network's training: what each step needs, and the seed its batch stream is keyed by."""

    model: torch.nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    sampler: BalancedSampler
    loss_cfg: LossConfig
    seed: int
    job: Job | None = None  # the planned schedule: the seconds an epoch was expected to take
    eta: Eta | None = None


def val_canvases(val: CachedSplit, size: Canvas) -> np.ndarray:
    """Validation inputs prepared exactly like serving (standardise, centre on the canvas)."""
    return np.stack([place(standardise(img), size)[0] for img in val.images])[:, None]


def build_model(run: Run) -> torch.nn.Module:
    widths = [int(w) for w in run.args.widths.split(",")]
    net = build_network("segdec", len(run.classes), 1, widths=widths, head_width=run.args.head_width)
    return net.to(run.device).to(memory_format=torch.channels_last)


def steps_per_epoch(run: Run) -> int:
    return run.args.steps_per_epoch or math.ceil(len(run.train) / run.args.batch)


def synth_config(run: Run) -> SynthConfig:
    """The synthetic-defect settings of a prepared run (its settings resolved)."""
    args = run.args
    return SynthConfig(args.synth_crop_p, args.synth_full_p, args.synth_mix)


def loss_config(run: Run) -> LossConfig:
    args = run.args
    return LossConfig(args.pos_weight, True, run.classes.index(run.good[0]), args.aux_weight,
                      args.mil_weight, args.label_smoothing)


def fit(run: Run, job: Job | None = None, eta: Eta | None = None) -> torch.nn.Module:
    """One network from the run's seed: two phases (crops with pixel loss, then full canvases) under
    one one-cycle schedule; `job` and `eta` report the time left as it goes."""
    args = run.args
    model = build_model(run)
    total = args.crop_epochs * args.crop_steps + args.epochs * steps_per_epoch(run)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(total, 1))
    good_index = run.classes.index(run.good[0])
    sampler = BalancedSampler(run.train, len(run.classes), good_index, canvas_of(args), args.seed,
                              augment=AugmentConfig(crop_margin=args.crop_margin),
                              recipe=run.recipe, synth=synth_config(run), good_share=args.good_share)
    fitting = Fitting(model, opt, sched, sampler, loss_config(run), args.seed, job, eta)
    _phase_crops(run, fitting)
    return _phase_full(run, fitting)


def _progress(fitting: Fitting, planned_s: float) -> str:
    """An epoch is done: the ETA of the whole command, when it runs to a plan."""
    if fitting.eta is None:
        return ""
    fitting.eta.advance(planned_s)
    return f", {fitting.eta.text()}"


def _phase_crops(run: Run, fitting: Fitting) -> None:
    args, sampler = run.args, fitting.sampler
    epochs = args.crop_epochs
    first_locate = math.ceil(args.locate_at * epochs) if run.recipe == LABELS_ONLY else math.inf
    planned = fitting.job.crop_epoch_s() if fitting.job else 0.0
    bar = tqdm(range(epochs), desc="crops", disable=args.no_progress, file=sys.stderr)
    for epoch in bar:
        if epoch >= first_locate and (epoch - first_locate) % LOCATE_EVERY == 0:
            # Real defects join the crops where the map (trained on synthetic defects) peaks.
            sampler.pseudo = locate_defects(fitting.model, run.train, sampler.good_index, canvas_of(args),
                                            run.device, precision=args.precision)
        losses = _epoch_losses(run, fitting, "crops", epoch)
        cls_loss, seg_loss = np.mean(losses, axis=0)
        run.history.append({"phase": "crops", "epoch": epoch, "cls_loss": cls_loss, "seg_loss": seg_loss})
        eta = _progress(fitting, planned)
        bar.set_postfix(cls=f"{cls_loss:.3f}", seg=f"{seg_loss:.3f}")
        if args.no_progress and (epoch % 10 == 0 or epoch == epochs - 1):
            logger.info("crops epoch %d of %d: cls %.3f seg %.3f%s", epoch + 1, epochs, cls_loss,
                        seg_loss, eta)


def _epoch_losses(run: Run, fitting: Fitting, phase: str, epoch: int) -> list[tuple[float, float]]:
    """Train one epoch of a phase; its batches are drawn here or by loader-worker processes."""
    args = run.args
    if phase not in PHASES:
        raise ValueError(f"unknown training phase {phase!r}")
    if phase == "crops":
        steps = args.crop_steps
        def draw(s):
            return s.crop_items(args.crop_batch, args.crop_size)
    else:
        steps = steps_per_epoch(run)
        def draw(s):
            return s.full_items(args.batch)
    key = (fitting.seed, PHASES.index(phase), epoch)
    batches = epoch_batches(fitting.sampler, draw, steps, args.loader_workers, key)
    # closing: a step that raises must still stop the epoch's workers, not leave them to the GC
    with contextlib.closing(batches):
        return [train_step(fitting.model, fitting.opt, fitting.sched, batch, run.device,
                           fitting.loss_cfg, args.precision) for batch in batches]


def val_figures(run: Run, probs: np.ndarray) -> dict:
    """The checkpoint criterion on the selection set: macro-F1 + AUROC - FRR at the recall target."""
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


def _phase_full(run: Run, fitting: Fitting) -> torch.nn.Module:
    if run.refit is not None:
        return _phase_full_refit(run, fitting)
    model, args = fitting.model, run.args
    canvases = val_canvases(run.select or run.val, canvas_of(args))
    planned = fitting.job.full_epoch_s() if fitting.job else 0.0
    best, best_state, since_best = -math.inf, copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(args.epochs), desc="full", disable=args.no_progress, file=sys.stderr)
    for epoch in bar:
        losses = _epoch_losses(run, fitting, "full", epoch)
        figures = val_figures(run, predict_probs(model, canvases, run.device, precision=args.precision))
        cls_loss, seg_loss = np.mean(losses, axis=0)
        run.history.append({"phase": "full", "epoch": epoch, "cls_loss": cls_loss, "seg_loss": seg_loss,
                            **figures})
        eta = _progress(fitting, planned)
        bar.set_postfix(cls=f"{cls_loss:.3f}", f1=f"{figures['val_macro_f1']:.3f}",
                        auc=f"{figures['val_auroc']:.3f}", frr=f"{figures['val_frr']:.3f}")
        if args.no_progress:
            logger.info("full epoch %d of %d: cls %.3f seg %.3f val f1 %.3f auroc %.3f frr %.3f%s",
                        epoch + 1, args.epochs, cls_loss, seg_loss, figures["val_macro_f1"],
                        figures["val_auroc"], figures["val_frr"], eta)
        if figures["select"] >= best:
            best, best_state, since_best = figures["select"], copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
        if may_stop_early(epoch, since_best, args):
            logger.info("early stop at epoch %d: no val gain for %d epochs", epoch, args.patience)
            if fitting.eta is not None:  # the epochs skipped will not be waited for
                fitting.eta.advance(planned * (args.epochs - epoch - 1))
            break
    model.load_state_dict(best_state)
    return model.cpu()


def may_stop_early(epoch: int, since_best: int, args) -> bool:
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
    return fitting.model.cpu()
