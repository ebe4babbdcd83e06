"""Model commands: train, crossval, quantize, eval, classify, tune-thresholds, attach-gate."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from inspector.errors import InspectorError
from inspector.model.loader import BACKENDS

logger = logging.getLogger(__name__)


# The REVIEW rule's options; each left out keeps what the bundle's card recorded.
TargetRecall = Annotated[float | None, typer.Option(
    help="defect recall to reach on val (default: the rule the bundle's card recorded, else 0.99)")]
MaxFalseReject = Annotated[float | None, typer.Option(
    help="false-reject budget on new good parts, read from the good val images (default: the "
         "card's rule, else 0.01; for a good-only gate 0.05)")]
FrrConfidence = Annotated[float | None, typer.Option(
    help="read the budget at this one-sided confidence, 0 for the expected rate (default: the "
         "card's rule, else 0)")]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error on stderr and return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _warn_budget(retuned: dict) -> None:
    """Say on stderr why new thresholds cannot hold the false-reject budget, when they cannot."""
    if retuned["warning"]:
        typer.echo(f"warning: {retuned['warning']}", err=True)


def _warn_int8_set_aside(bundle: Path) -> None:
    """Say on stderr when new thresholds set the INT8 graphs' judgments aside, and what to do."""
    from inspector.model.card import ModelCard

    families = ModelCard.load(bundle).judgments_set_aside
    if families:
        typer.echo(f"warning: the INT8 graph was judged under the old thresholds (on CPUs of INT8 "
                   f"kernel family {', '.join(families)}): the float graph runs until it is judged "
                   f"again, on a PC of each family: inspector quantize {bundle} DATASET --judge",
                   err=True)


def _run_training(module: str, command: str, args: list[str]) -> typer.Exit:
    # The training package depends on inspector, never the reverse: run it as its own module
    # (python -m training.<module>), which also keeps torch out of this process.
    if importlib.util.find_spec("training") is None or importlib.util.find_spec("torch") is None:
        raise fail("training needs torch and the training package: pip install 'inspector[train]'")
    env = dict(os.environ, INSPECTOR_TRAIN_COMMAND=f"inspector {command} " + shlex.join(args))
    return typer.Exit(run_forwarding_signals([sys.executable, "-m", f"training.{module}", *args], env))


FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def run_forwarding_signals(cmd: list[str], env: dict[str, str]) -> int:
    """Run a child to its end and pass it the signals that stop this process: a service manager
    or `kill` that stops `inspector train` must stop the training, not orphan it (it would go on
    using the cores and later write a bundle nobody waits for). Returns the child's exit code."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum, _frame) -> None:
        # (Ctrl-C in a terminal also reaches the child directly; a second SIGINT only repeats it.)
        if proc.poll() is None:
            proc.send_signal(signum)

    if threading.current_thread() is not threading.main_thread():
        return proc.wait()  # only the main thread may set handlers; its own signals stay as they are
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def train(ctx: typer.Context) -> None:
    """Train a model bundle from an image-folder dataset (all options: inspector train --help)."""
    raise _run_training("train", "train", ctx.args)


def crossval(ctx: typer.Context) -> None:
    """Train a recipe once per fold of train+val and pool the held-out figures (--help: options)."""
    raise _run_training("crossval", "crossval", ctx.args)


def quantize(ctx: typer.Context) -> None:
    """INT8 graphs of a classifier and its gate; each runs only where test figures hold (--help)."""
    raise _run_training("quantize", "quantize", ctx.args)


def evaluate(
    bundle: Annotated[Path, typer.Argument(help="model bundle folder")],
    dataset: Annotated[Path, typer.Argument(help="dataset folder")],
    split_csv: Annotated[Path | None, typer.Option(help="image,label,split CSV")] = None,
    split: Annotated[str | None, typer.Option(help="evaluate only this split (train/val/test)")] = None,
    backend: Annotated[str, typer.Option(help=f"one of {', '.join(BACKENDS)}")] = "onnx",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Evaluate a bundle on a labelled dataset: accuracy, macro-F1, defect recall, false rejects."""
    from inspector.datasets import scan_dataset
    from inspector.model.evaluation import evaluate as run_eval
    from inspector.model.loader import load_classifier

    try:
        clf = load_classifier(bundle, backend)
        index = scan_dataset(dataset, split_csv, test_fraction=0.0 if split is None else 0.15)
        samples = index.samples if split is None else index.split(split)
        if not samples:
            raise fail(f"no images in split {split!r} of {dataset}")
        result = run_eval(clf, samples)
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key in ("n", "accuracy", "macro_f1", "defect_recall", "false_reject_rate", "auroc",
                "heatmap_peak_in_mask"):
        value = result[key]
        typer.echo(f"{key:>22}: {value:.4f}" if isinstance(value, float) else f"{key:>22}: {value}")
    # verdicts by truth: where the false rejects go (NG: scrapped, REVIEW: a person looks); the
    # other parts only for bundles with an attached anomaly gate
    for part in ("verdicts_by_truth", "classifier_only", "gate_only", "fusion"):
        if part in result:
            typer.echo(f"{part:>22}: {json.dumps(result[part])}")


def attach_gate(
    bundle: Annotated[Path, typer.Argument(help="classifier bundle folder (changed in place)")],
    gate: Annotated[Path, typer.Argument(help="good-only gate bundle (inspector train --good-only)")],
    fuse_on: Annotated[Path | None, typer.Option(
        help="fuse the gate into the defect score, calibrated and thresholded on this dataset's "
             "val split (default: an OR rule, REVIEW when the gate fires)")] = None,
    split_csv: Annotated[Path | None, typer.Option(help="image,label,split CSV for --fuse-on")] = None,
    target_recall: TargetRecall = None,
    max_false_reject: MaxFalseReject = None,
    frr_confidence: FrrConfidence = None,
    gate_views: Annotated[str | None, typer.Option(
        help="the gate's test-time views, comma-separated (default: the gate card's); OR rule only")] = None,
    window_bank: Annotated[bool, typer.Option(
        help="score the gate's window bank; --no-window-bank scores its image bank alone (the "
             "window search is most of the gate's cost); OR rule only")] = True,
) -> None:
    """Attach a good-only anomaly gate: anomalous parts go to REVIEW even when the classifier says OK.

    An OR-rule gate keeps the gate's threshold: re-choose it with `inspector tune-thresholds`
    (needed after --gate-views or --no-window-bank, which change the gate's score).
    """
    from inspector.model.gate import attach_gate as attach

    figures = {}
    try:
        if gate_views is not None:
            _views(gate_views)  # a wrong view fails before the bundle is touched
        if fuse_on is None:
            card = _lighter_gate(attach(bundle, gate), bundle, gate_views, window_bank)
        elif gate_views is not None or not window_bank:
            raise fail("--gate-views and --no-window-bank go with the OR rule, not --fuse-on")
        else:
            card, figures = _fuse_gate(bundle, gate, fuse_on, split_csv,
                                       (target_recall, max_false_reject, frr_confidence))
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    _warn_int8_set_aside(bundle)
    typer.echo(json.dumps({"bundle": str(bundle), "gate": card.gate_card.version,
                           "fused": card.fusion is not None,
                           "thresholds": {"ng": card.thresholds.ng, "review": card.thresholds.review,
                                          "anomaly": card.thresholds.anomaly}, **figures}))


def _fuse_gate(bundle: Path, gate: Path, dataset: Path, split_csv: Path | None,
               rule_options: tuple) -> tuple:
    """Attach the gate fused into the defect score on `dataset`'s val split; the card and the
    fused bundle's figures."""
    from inspector.datasets import scan_dataset
    from inspector.model.card import ModelCard
    from inspector.model.gate import attach_and_fuse
    from inspector.model.retune import retune
    from inspector.model.thresholds import recorded_rule

    val = scan_dataset(dataset, split_csv).split("val")
    if not val:
        raise fail(f"{dataset} has no val images to fuse the gate on")
    rule = recorded_rule(ModelCard.load(bundle), *rule_options)
    card = attach_and_fuse(bundle, gate, val, rule)
    # The card's figures were the classifier's alone: measure the fused bundle (same rule, so the
    # same thresholds) on val, and on test where the dataset has one.
    result = retune(bundle, dataset, split_csv, rule)
    _warn_budget(result)
    return card, {"val": result["val"], "test": result["test"]}


def _lighter_gate(card, bundle: Path, views: str | None, window_bank: bool):
    """The attached gate's card with fewer views and/or without its window bank, saved."""
    import dataclasses

    if views is None and window_bank:
        return card
    gate = dict(card.gate)
    if views is not None:
        gate["tta_views"] = _views(views)
    if not window_bank:
        bank = gate.get("feature_bank") or {}
        if not bank.get("image_bank"):
            raise fail("--no-window-bank needs a gate with an image bank")
        gate["feature_bank"] = {**bank, "window_bank": False}
    new = dataclasses.replace(card, gate=gate)
    new.validate()
    new.save(bundle)
    return new


def _views(views: str) -> list[str]:
    from inspector.model.preprocess import VIEWS

    chosen = [v.strip() for v in views.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VIEWS))
    if not chosen or unknown:
        raise fail(f"--gate-views: unknown or no views ({', '.join(unknown) or views!r}); "
                   f"choose from {', '.join(VIEWS)}")
    return chosen


def classify(
    bundle: Annotated[Path, typer.Argument(help="model bundle folder")],
    images: Annotated[list[Path], typer.Argument(help="image files")],
    backend: Annotated[str, typer.Option(help=f"one of {', '.join(BACKENDS)}")] = "onnx",
    batch: Annotated[int, typer.Option(help="images per inference batch")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line per image")] = False,
) -> None:
    """Classify image files; an unusable image gets a `bad_image` line (never OK), and the exit
    code is 1 when any image was unusable. Every image gets its line."""
    from inspector.model.loader import load_classifier
    from inspector.model.quality import QualityGate

    try:
        clf = load_classifier(bundle, backend, max_batch=batch)
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    gate = QualityGate(clf.card.quality_profile)
    failures = 0
    for start in range(0, len(images), batch):
        failures += _classify_chunk(clf, gate, images[start:start + batch], as_json)
    if failures:
        raise typer.Exit(1)


def _classify_chunk(clf, gate, paths: list[Path], as_json: bool) -> int:
    from inspector.model.preprocess import read_image

    loaded, failures = [], 0
    for path in paths:
        try:
            image = read_image(path)
            problem = gate.check(image)
        except InspectorError as exc:
            image, problem = None, str(exc)
        if problem is None:
            loaded.append((path, image))
            continue
        failures += 1
        typer.echo(json.dumps({"image": str(path), "status": "bad_image", "verdict": "REVIEW",
                               "error": problem}) if as_json
                   else f"{path}: bad_image REVIEW ({problem})", err=not as_json)
    preds = clf.predict([img for _, img in loaded], heatmaps=False)
    for (path, _), pred in zip(loaded, preds, strict=True):
        row = {"image": str(path), "status": "ok", "label": pred.label,
               "verdict": pred.verdict.value, "defect_score": round(pred.defect_score, 6),
               "scores": {k: round(v, 6) for k, v in pred.scores.items()}}
        if pred.anomaly_score is not None:
            row["anomaly_score"] = round(pred.anomaly_score, 6)
        typer.echo(json.dumps(row) if as_json else
                   f"{path}: {pred.verdict.value} {pred.label} (defect score {pred.defect_score:.3f})")
    sys.stdout.flush()
    return failures


def tune_thresholds(
    bundle: Annotated[Path, typer.Argument(help="model bundle folder (card.json is rewritten)")],
    dataset: Annotated[Path, typer.Argument(help="dataset folder with a val split")],
    split_csv: Annotated[Path | None, typer.Option(help="image,label,split CSV")] = None,
    target_recall: TargetRecall = None,
    max_false_reject: MaxFalseReject = None,
    frr_confidence: FrrConfidence = None,
) -> None:
    """Re-choose NG/REVIEW thresholds on the val split (no retraining); prints one JSON line.

    For a good-only gate the threshold is re-set on the good val images alone: run it on a line's
    own recent good parts, since good parts drift.
    """
    from inspector.model.card import ModelCard
    from inspector.model.retune import retune
    from inspector.model.thresholds import recorded_rule

    try:
        rule = recorded_rule(ModelCard.load(bundle), target_recall, max_false_reject, frr_confidence)
        result = retune(bundle, dataset, split_csv, rule)
    except InspectorError as exc:
        raise fail(str(exc)) from exc
    _warn_budget(result)
    _warn_int8_set_aside(bundle)
    typer.echo(json.dumps(result))
