"""Bundle writing: export the trained network, choose thresholds on val, evaluate, and write the card
and report once, at the end; the bundle is built in a staging folder and appears whole at --out."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from inspector.datasets import content_hash
from inspector.machine import cpu_model
from inspector.model.card import ModelCard, Thresholds
from inspector.model.evaluation import evaluate, headline, score_samples, summarise
from inspector.model.feature_bank import TOP_K
from inspector.model.gate import attach_gate, fuse_gate
from inspector.model.loader import load_classifier
from inspector.model.onnx_backend import ONNX_FILE, bank_file_for
from inspector.model.quality import fit_profile_from_files
from inspector.model.thresholds import ThresholdRule, gate_threshold, val_warning
from inspector.model.thresholds import choose as choose_thresholds_by_rule
from training import feature_bank
from training import report as reports
from training.batches import GOOD_ONLY
from training.canvas import canvas_of
from training.export import write_bundle
from training.loop import fast_bf16
from training.prepare import Run
from training.recipe import threshold_rule

logger = logging.getLogger(__name__)


@dataclass
class Parts:
    """What the bundle gathers while it is finished, before its one final card."""

    folder: Path                       # the staging folder the bundle is built in
    gate: dict | None = None           # attached gate's card
    feature_bank: dict | None = None   # good-only: the bank's card entry (top_k, calibration)
    fusion: dict | None = None         # a fused gate's calibration
    quality: dict | None = None        # image-quality limits learnt from the train images
    weights_hash: str = ""             # of the exported model.onnx


def staging_folder(out: Path) -> Path:
    """Where a bundle is built before it replaces --out: beside it, so the final move is a rename."""
    return out.parent / f".{out.name}.partial"


def publish(staging: Path, out: Path) -> None:
    """The finished bundle replaces --out whole: never a mix of two runs' files, and a run that
    fails leaves the older bundle as it was."""
    if out.exists():  # a bundle or an empty folder (train.main refuses anything else up front)
        shutil.rmtree(out)
    staging.rename(out)


def code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make_card(run: Run, parts: Parts, thresholds: Thresholds, data_hash: str, metrics_: dict) -> ModelCard:
    args = run.args
    height, width = canvas_of(args)
    square = height == width
    return ModelCard(
        name=args.name or args.out.name, arch="segdec", classes=run.classes, good_classes=run.good,
        input_size=height if square else args.input_size, input_shape=None if square else [height, width],
        thresholds=thresholds,
        arch_params={"widths": [int(w) for w in args.widths.split(",")], "head_width": args.head_width},
        tta_views=[v for v in args.tta.split(",") if v], recipe=run.recipe, data_hash=data_hash,
        weights_hash=parts.weights_hash,
        metrics=metrics_, command=getattr(args, "command", "") or " ".join(sys.argv),
        code_version=code_version(), created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        gate=parts.gate, feature_bank=parts.feature_bank, fusion=parts.fusion, quality=parts.quality,
    )


def choose_thresholds(run: Run, folder: Path) -> tuple[Thresholds, dict]:
    """On val with the exported bundle: REVIEW by the threshold rule, NG at max(review, 0.5)."""
    scored = score_samples(load_classifier(folder, "onnx", threads=run.args.threads),
                           run.val.samples)
    if run.recipe == GOOD_ONLY:
        # Good images only: the threshold holds false rejects at gate_frr; a gate never says NG.
        return gate_threshold(scored.defect_scores, run.args.gate_frr), {"val_scores": scored}
    is_defect = np.array([s.label not in run.good for s in scored.samples])
    return choose_thresholds_by_rule(is_defect, scored.defect_scores, threshold_rule(run.args)), \
        {"val_scores": scored}


def finish(run: Run, model: torch.nn.Module, elapsed: float, folder: Path) -> dict:
    """Write the bundle into `folder` (a staging folder); returns the report."""
    parts = Parts(folder)
    # The station refuses frames outside what the training images look like (card.quality).
    parts.quality = fit_profile_from_files(s.path for s in run.train.samples).to_dict()
    if run.refit is not None:
        return _finish_refit(run, parts, model, elapsed)
    args = run.args
    index = run.index
    if run.recipe == GOOD_ONLY:  # the gate saw the good rows only: hash just those
        index = dataclasses.replace(index, samples=[s for s in index.samples if s.label in run.good])
    data_hash = content_hash(index)
    banked = run.recipe == GOOD_ONLY and args.bank_size > 0
    if banked:  # a card with a feature bank makes the exported graph output the patch features
        parts.feature_bank = {"top_k": TOP_K, "calibration": None}
    # The ONNX runtime and the gate functions read the bundle from disk: the staging folder holds
    # working cards until the final one.
    provisional = make_card(run, parts, Thresholds(ng=0.5, review=0.5), data_hash, {})
    parts.weights_hash = write_bundle(model, provisional, folder)
    provisional = dataclasses.replace(provisional, weights_hash=parts.weights_hash)
    if banked:
        _add_feature_bank(run, parts, model, provisional)
    thresholds, extra = choose_thresholds(run, folder)
    make_card(run, parts, thresholds, data_hash, {}).save(folder)
    if run.args.gate is not None:
        card = attach_gate(folder, args.gate)
        if args.fuse_gate:
            card = fuse_gate(folder, run.val.samples, threshold_rule(args))
        parts.gate, parts.fusion, thresholds = card.gate, card.fusion, card.thresholds
    clf = load_classifier(folder, "onnx", threads=args.threads)
    if clf.gate is not None:  # the val scores were taken before the gate came: score again
        extra["val_scores"] = score_samples(clf, run.val.samples)
        if parts.fusion is None:  # OR rule: the gate spends what REVIEW left of the budget
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
               "trained_on": compute_identity(run.device), "schedule": run.schedule}
    card = make_card(run, parts, thresholds, data_hash, figures)
    report = {**_report(run, card, val_metrics, test_metrics, elapsed, extra["val_scores"]),
              "threshold_warning": warning}
    _plots(run, clf, card, test_metrics or val_metrics, test_samples or run.val.samples, folder)
    card.save(folder)  # the bundle's one final card
    reports.write_report(folder, report)
    return report


def _thresholds_with_or_gate(run: Run, scored) -> Thresholds:
    """The rule's thresholds again, now with the attached gate's val anomaly scores (choose)."""
    is_defect = np.array([s.label not in run.good for s in scored.samples])
    return choose_thresholds_by_rule(is_defect, scored.defect_scores, threshold_rule(run.args),
                                     scored.anomaly_scores)


def _finish_refit(run: Run, parts: Parts, model: torch.nn.Module, elapsed: float) -> dict:
    """A refit's bundle: the folds' thresholds, the cross-validation's figures in place of val's."""
    args, plan, folder = run.args, run.refit, parts.folder
    data_hash = content_hash(run.index)
    parts.weights_hash = write_bundle(model, make_card(run, parts, plan.thresholds, data_hash, {}), folder)
    clf = load_classifier(folder, "onnx", threads=args.threads)
    test_samples = run.index.split("test")
    test_metrics = evaluate(clf, test_samples) if test_samples else None
    figures = {"crossval": plan.pooled, "val": None,
               "test": headline(test_metrics) if test_metrics else None,
               "train_minutes": round(elapsed / 60, 2), "trained_on": compute_identity(run.device),
               "schedule": run.schedule}
    card = make_card(run, parts, plan.thresholds, data_hash, figures)
    refit = {"from": plan.source, "folds": plan.folds, "keep_epoch": plan.keep_epoch,
             "fold_epochs": plan.fold_epochs, "crossval": plan.pooled}
    report = {**_report(run, card, None, test_metrics, elapsed, None), "threshold_warning": None,
              "refit": refit}
    if test_metrics:
        _plots(run, clf, card, test_metrics, test_samples, folder)
    card.save(folder)
    reports.write_report(folder, report)
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


def _add_feature_bank(run: Run, parts: Parts, model: torch.nn.Module, provisional: ModelCard) -> None:
    """Good-only: bank the good training windows and images beside the graph, calibrate (ONNX)."""
    args, folder = run.args, parts.folder
    bank = feature_bank.build_bank(model, run.train.samples, canvas_of(args), torch.device("cpu"),
                                   args.seed, args.bank_size, args.bank_pool,
                                   not args.no_image_bank)
    bank.save(folder / bank_file_for(ONNX_FILE))
    # The runtime reads the bank's layout (window size, image bank) from the card on disk.
    dataclasses.replace(provisional, feature_bank=bank.config()).save(folder)
    calibration = feature_bank.calibrate(load_classifier(folder, "onnx", threads=args.threads),
                                         run.val.samples, args.gate_p_weight)
    parts.feature_bank = {**bank.config(), "calibration": dataclasses.asdict(calibration)}
    # choose_thresholds loads the bundle from disk: it must score with the calibrated bank.
    dataclasses.replace(provisional, feature_bank=parts.feature_bank).save(folder)


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
    # A gate trained beside the classifier sits in the staging folder until the bundle is renamed
    # into --out: the report names where it will be.
    staged, out = str(staging_folder(Path(run.args.out))), str(run.args.out)
    args = {k: str(v).replace(staged, out) if isinstance(v, Path) else v for k, v in vars(run.args).items()}
    return {
        "card": card.name, "recipe": run.recipe, "args": args, "device": str(run.device),
        "compute": compute_identity(run.device), "schedule": run.schedule,
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


def _plots(run: Run, clf, card: ModelCard, m: dict, samples, folder: Path) -> None:
    which = "test" if m.get("n") and run.index.split("test") else "val"
    reports.confusion_png(m["confusion"]["matrix"], card.classes, folder / "confusion.png",
                          f"{card.name}: {which} split (n={m['n']})")
    scored = score_samples(clf, samples)
    is_defect = np.array([s.label not in card.good_classes for s in scored.samples])
    reports.score_histogram_png(scored.defect_scores, is_defect,
                                {"review": card.thresholds.review, "ng": card.thresholds.ng},
                                folder / "score_histogram.png", f"{card.name}: {which} split")
