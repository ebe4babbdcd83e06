"""Measure what a training step costs on this computer, on a throwaway copy of the run's network."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from training.augment import AugmentConfig
from training.batches import BalancedSampler, to_batch
from training.budget import StepCost
from training.canvas import canvas_of
from training.fit import build_model, loss_config, synth_config, val_canvases
from training.loop import PRECISIONS, predict_probs, train_step
from training.prepare import Run

logger = logging.getLogger(__name__)
STEPS = 6            # timed steps per phase, after one warm-up step (3 scattered by 20-30 % on shared cores)
FASTER_BY = 0.9      # bf16 is chosen only when its steps take under 0.9 of float32's
MEASURE_SEED = 99_991  # the throwaway sampler's stream: the run's own stream stays untouched


def measure(run: Run, precision: str, steps: int = STEPS) -> StepCost:
    """Seconds per crop step, per full step and per scored image, drawing batches as training does.
    Draws torch's random state (a throwaway network): the caller seeds again before training."""
    args = run.args
    model = build_model(run)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=4 * (steps + 1))
    sampler = BalancedSampler(run.train, len(run.classes), run.classes.index(run.good[0]),
                              canvas_of(args), args.seed + MEASURE_SEED,
                              augment=AugmentConfig(crop_margin=args.crop_margin), recipe=run.recipe,
                              synth=synth_config(run), good_share=args.good_share)
    cfg = loss_config(run)

    def per_step(draw) -> float:
        times = []
        for _ in range(steps + 1):
            start = time.perf_counter()
            train_step(model, opt, sched, to_batch(draw()), run.device, cfg, precision)
            times.append(time.perf_counter() - start)
        return float(np.median(times[1:]))  # the first step pays for allocations and kernel choice

    crop_s = per_step(lambda: sampler.crop_items(args.crop_batch, args.crop_size)) \
        if args.crop_epochs > 0 and _can_crop(run, sampler) else 0.0
    full_s = per_step(lambda: sampler.full_items(args.batch))
    scored = run.select or (run.val if len(run.val) else run.train)  # a refit has no val
    canvases = val_canvases(scored, canvas_of(args))[:32]
    predict_probs(model, canvases[:2], run.device, precision=precision)  # warm-up
    start = time.perf_counter()
    predict_probs(model, canvases, run.device, precision=precision)
    image_s = (time.perf_counter() - start) / max(1, len(canvases))
    return StepCost(crop_s, full_s, image_s)


def _can_crop(run: Run, sampler: BalancedSampler) -> bool:
    """Labels-only crops real defects only once located: good images (synthetic defects) must exist."""
    return len(sampler.members[sampler.good_index]) > 0 or run.recipe == "mask-supervised"


def bf16_hardware(device: torch.device) -> bool:
    """Whether bf16 could be fast here at all: a GPU, or a CPU with bf16 instructions (AMX or
    AVX-512 BF16); elsewhere it is emulated and slower, and not worth measuring."""
    if device.type != "cpu":
        return True
    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def choose_precision(run: Run) -> tuple[str, StepCost]:
    """--precision auto: where bf16 has hardware, time both and keep bf16 only where it is really
    faster here (the report records what ran: a rebuild passes it as --precision)."""
    if not bf16_hardware(run.device):
        return "fp32", measure(run, "fp32")
    costs = {p: measure(run, p) for p in PRECISIONS}
    fp32, bf16 = costs["fp32"], costs["bf16"]
    faster = bf16.crop_s + bf16.full_s < FASTER_BY * (fp32.crop_s + fp32.full_s)
    logger.info("step times: fp32 crop %.3f s full %.3f s; bf16 crop %.3f s full %.3f s: %s",
                fp32.crop_s, fp32.full_s, bf16.crop_s, bf16.full_s, "bf16" if faster else "fp32")
    return ("bf16", bf16) if faster else ("fp32", fp32)
