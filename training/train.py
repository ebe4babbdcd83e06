"""`inspector train`: prepare the data, plan the schedule to the budget, fit, write the bundle."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from inspector.datasets import DatasetIndex
from inspector.errors import ConfigError, InspectorError
from inspector.machine import cpu_model
from inspector.model.card import CARD_FILE
from training.batches import GOOD_ONLY, LABELS_ONLY
from training.budget import Eta, Job, Plan, StepCost, describe, fit_schedule
from training.bundle import finish, publish, staging_folder
from training.fit import fit, may_stop_early, steps_per_epoch, synth_config  # noqa: F401 (the API tests use)
from training.loop import AUTO_PRECISION, resolve_precision
from training.measure import choose_precision, measure
from training.options import check_args, get_args_parser
from training.prepare import Run, gate_args, prepare_run, seed_everything
from training.recipe import FIXED, resolve_recipe, threshold_rule  # noqa: F401 (crossval, tests)

logger = logging.getLogger(__name__)
GATE_DIR = "gate"  # a labels-only bundle keeps the gate it trained here: reusable with --gate
MIN_GATE_VAL_GOOD = 5  # good val images a trained gate needs: its calibration and fusion read them


def main(args: argparse.Namespace, index: DatasetIndex | None = None) -> dict:
    """Prepare, plan, fit (the gate first where the recipe trains one), write the bundle; returns
    the classifier's report."""
    start = time.monotonic()
    check_args(args)
    seed_everything(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if out.is_dir() and not (out / CARD_FILE).is_file() and any(out.iterdir()):
        raise ConfigError(f"--out {out} holds files but no model bundle: name a new or empty folder "
                          "(a bundle there is replaced when the training ends)")
    staging = staging_folder(out)
    shutil.rmtree(staging, ignore_errors=True)  # what a killed run left behind
    staging.mkdir(parents=True)
    try:
        report = _train(args, index, staging, start)
        publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _train(args: argparse.Namespace, index: DatasetIndex | None, staging: Path, start: float) -> dict:
    run = prepare_run(args, index)
    logger.info("recipe %s on %d train / %d val images (%s)", run.recipe, len(run.train), len(run.val),
                run.device)
    gate_run = None
    if run.recipe != GOOD_ONLY and args.gate is None and args.train_gate and not args.no_gate:
        good_val = sum(1 for s in run.val.samples if s.label in run.good)
        if good_val < MIN_GATE_VAL_GOOD:
            logger.warning("only %d good val image(s): too few to calibrate a gate (%d needed); "
                           "training the classifier without one", good_val, MIN_GATE_VAL_GOOD)
            args.no_gate = True
        else:
            gate_run = prepare_run(gate_args(args, staging / GATE_DIR))
    if args.no_gate:
        args.gate = None
    runs = [r for r in (gate_run, run) if r is not None]
    plan = plan_runs(runs, args.budget_min * 60, start)
    logger.info("plan: %s", describe(plan, f"this CPU ({cpu_model()})"
                                     if run.device.type == "cpu" else str(run.device)))
    eta = Eta(plan.seconds - (time.monotonic() - start))
    if gate_run is not None:
        job = plan.job("gate")
        seed_everything(gate_run.args.seed)
        fitted = time.monotonic()
        model = fit(gate_run, job, eta)
        finish(gate_run, model, time.monotonic() - fitted, staging / GATE_DIR)
        eta.advance(job.finish_s())
        logger.info("gate trained (%s); now the classifier", eta.text())
        args.gate = staging / GATE_DIR
    seed_everything(args.seed)
    fitted = time.monotonic()
    model = fit(run, plan.job(_job_name(run)), eta)
    report = finish(run, model, time.monotonic() - fitted, staging)
    report["wall_seconds"] = round(time.monotonic() - start, 1)
    return report


def _job_name(run: Run) -> str:
    return "gate" if run.recipe == GOOD_ONLY else "classifier"


def plan_runs(runs: list[Run], budget_s: float, start: float) -> Plan:
    """Measure each network's step time, fit the schedule to the budget, and write the epochs and
    precision that will run into each run's args (and its schedule record)."""
    jobs = []
    for run in runs:
        args = run.args
        if args.precision == AUTO_PRECISION:
            if budget_s > 0:
                args.precision, cost = choose_precision(run)
            else:
                args.precision, cost = resolve_precision(AUTO_PRECISION, run.device), None
        else:
            cost = measure(run, args.precision) if budget_s > 0 else None
        jobs.append(_job(run, cost))
        if cost is not None:
            job = jobs[-1]
            logger.info("%s (%s): %.2f s a crop step, %.2f s a full step, %.3f s an image scored: "
                        "%.0f s a crop epoch, %.0f s a full epoch with its val, %.0f s to finish",
                        job.name, args.precision, cost.crop_s, cost.full_s, cost.image_s,
                        job.crop_epoch_s(), job.full_epoch_s(), job.finish_s())
    # The budget counts from the command's start: reading the images and measuring are spent.
    plan = fit_schedule(jobs, budget_s, time.monotonic() - start) if budget_s > 0 else \
        Plan(tuple(jobs), 0.0, 0.0, True)
    for run, job in zip(runs, plan.jobs, strict=True):
        args = run.args
        run.schedule = {"budget_min": round(budget_s / 60, 2), "planned_minutes": round(plan.seconds / 60, 2),
                        "whole_schedule_minutes": round(plan.whole_s / 60, 2) if budget_s > 0 else None,
                        "recipe_crop_epochs": args.crop_epochs, "recipe_epochs": args.epochs,
                        "crop_epochs": job.crop_epochs, "epochs": job.epochs, "precision": args.precision,
                        "fixed_by_user": job.fixed, "fits_budget": plan.fits,
                        "step_seconds": ({"crop": round(job.cost.crop_s, 4),
                                          "full": round(job.cost.full_s, 4),
                                          "image": round(job.cost.image_s, 5)} if budget_s > 0 else None)}
        args.crop_epochs, args.epochs = job.crop_epochs, job.epochs
    if not plan.fits:
        logger.warning("the budget of %.0f min is too short for the shortest schedule: it will take "
                       "about %.0f min", budget_s / 60, plan.seconds / 60)
    return plan


def _job(run: Run, cost: StepCost | None) -> Job:
    """A run as the planner sees it; a user's fixed epochs (either phase) keep the whole schedule."""
    args = run.args
    views = len([v for v in args.tta.split(",") if v])
    n_val, n_test = len(run.val), len(run.index.split("test"))
    if run.recipe == GOOD_ONLY:  # bank features, calibration, then thresholds and evaluation
        finish_images = len(run.train) + n_val + views * (n_val + 2 * n_test)
    else:
        finish_images = views * (n_val + 2 * n_test) * (2 if args.gate is not None or
                                                         getattr(args, "train_gate", False) else 1)
    n_defect = sum(1 for y in run.train.labels if y != run.classes.index(run.good[0]))
    return Job(_job_name(run), args.crop_epochs, args.epochs, args.crop_steps, steps_per_epoch(run),
               cost or StepCost(0.0, 0.0, 0.0),
               val_images=0 if run.refit else len(run.select or run.val),
               locate_images=n_defect if run.recipe == LABELS_ONLY else 0, locate_at=args.locate_at,
               finish_images=finish_images, fixed=bool(getattr(args, FIXED, [])),
               precision=args.precision)


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
            "wall_seconds": report.get("wall_seconds"), "split": split, **figures}


def cli(argv: list[str] | None = None) -> int:
    """Command-line entry (`inspector train` runs it)."""
    return run_command(get_args_parser(), argv, main, _summary)


if __name__ == "__main__":
    sys.exit(cli())
