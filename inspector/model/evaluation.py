"""Evaluate a bundle on labelled samples: accuracy, macro-F1, defect recall, false rejects, AUROC."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from inspector.datasets import Sample
from inspector.domain import Verdict
from inspector.errors import DatasetError
from inspector.model import metrics
from inspector.model.preprocess import prepare_batch, read_image
from inspector.model.runtime import BundleRuntime, heatmap_for
from inspector.model.verdict import decide

logger = logging.getLogger(__name__)


@dataclass
class ScoredSamples:
    """Per-sample outputs of a bundle on a sample list (corrupt images left out and named)."""

    samples: list[Sample]
    probs: np.ndarray          # N x K class probabilities (view-averaged)
    defect_scores: np.ndarray  # N
    peaks_in_mask: list[tuple[bool, bool]]  # (peak inside mask, within 4 px) per defect with a mask
    skipped: list[str]
    anomaly_scores: np.ndarray | None = None  # N, from an attached gate
    components: dict[str, np.ndarray] | None = None  # a banked gate's raw scores, before combining
    classifier_scores: np.ndarray | None = None  # N, the classifier's own score when a gate is fused in


def label_for(card, label: str) -> str:
    """A dataset label as the card names it: a good-only card calls every other class anomalous."""
    if card.recipe == "good-only" and label not in card.good_classes:
        return card.defect_classes[0]
    return label


def _peak_hit(heat: np.ndarray, mask_path) -> tuple[bool, bool] | None:
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if mask is None or mask.shape != heat.shape or not (mask > 0).any():
        return None
    y, x = np.unravel_index(int(np.argmax(heat)), heat.shape)
    near = cv2.dilate((mask > 0).astype(np.uint8), np.ones((9, 9), np.uint8))
    return bool(mask[y, x] > 0), bool(near[y, x] > 0)


def score_samples(model: BundleRuntime, samples: Sequence[Sample], batch: int = 16) -> ScoredSamples:
    """Run the bundle over samples in batches; heatmap peaks are checked where masks exist."""
    kept, probs, scores, peaks, skipped, anomaly = [], [], [], [], [], []
    parts: dict[str, list[np.ndarray]] = {}
    good = set(model.card.good_classes)
    for start in range(0, len(samples), batch):
        chunk, images = [], []
        for s in samples[start:start + batch]:
            try:
                images.append(read_image(s.path))
                chunk.append(s)
            except DatasetError as exc:
                logger.warning("skipping %s", exc)
                skipped.append(str(s.path))
        if not chunk:
            continue
        x, placements = prepare_batch(images, model.card.canvas)
        p, batch_scores, dmaps, raw = model.score_batch(x, placements)
        for name, values in (raw or {}).items():
            parts.setdefault(name, []).append(values)
        probs.append(p)
        scores.append(batch_scores)
        by_gate = np.zeros(len(chunk), dtype=bool)
        if model.gate is not None:
            a_scores, gate_maps, gate_places = model.anomaly_scores(images, (x, placements))
            anomaly.append(a_scores)
            by_gate = model.gate_heatmap_shown(batch_scores, a_scores)  # as the station shows it
        for i, s in enumerate(chunk):
            if s.mask is not None and s.label not in good:
                heat = (heatmap_for(gate_maps[i, 0], gate_places[i], model.gate.card.canvas,
                                    images[i].shape) if by_gate[i] else
                        heatmap_for(dmaps[i, 0], placements[i], model.card.canvas, images[i].shape))
                hit = _peak_hit(heat, s.mask)
                if hit is not None:
                    peaks.append(hit)
        kept.extend(chunk)
    all_probs = np.concatenate(probs) if probs else np.zeros((0, len(model.card.classes)))
    all_scores = np.concatenate(scores) if scores else np.zeros(0)
    gate_scores = np.concatenate(anomaly) if anomaly else None
    if model.is_gate:
        gate_scores = all_scores
    components = {k: np.concatenate(v) for k, v in parts.items()} or None
    fused = model.fused_scores(all_scores, gate_scores) if gate_scores is not None else None
    if fused is None:
        return ScoredSamples(kept, all_probs, all_scores, peaks, skipped, gate_scores, components)
    return ScoredSamples(kept, all_probs, fused, peaks, skipped, gate_scores, components,
                         classifier_scores=all_scores)


def _gate_figures(card, scored: ScoredSamples, is_defect: np.ndarray) -> dict:
    """Classifier alone vs classifier + gate, and the gate's own AUROC (bundles with a gate)."""
    if scored.classifier_scores is not None:  # fused: each score's ranking alone
        return {"fusion": {"weight": card.fused.weight,
                           "classifier_auroc": metrics.auroc(is_defect, scored.classifier_scores),
                           "gate_auroc": metrics.auroc(is_defect, scored.anomaly_scores)}}
    alone = [decide(float(v), card.thresholds) is not Verdict.OK for v in scored.defect_scores]
    recall, frr = metrics.flag_rates(is_defect, np.array(alone, dtype=bool))
    fired = scored.anomaly_scores >= card.thresholds.anomaly
    g_recall, g_frr = metrics.flag_rates(is_defect, fired)
    return {"classifier_only": {"defect_recall": recall, "false_reject_rate": frr},
            "gate_only": {"defect_recall": g_recall, "false_reject_rate": g_frr,
                          "auroc": metrics.auroc(is_defect, scored.anomaly_scores)}}


def _auroc_by_defect_class(scored: ScoredSamples, is_defect: np.ndarray) -> dict[str, float | None]:
    """Each dataset defect class against the good parts: which kinds of defect rank low.

    Uses the dataset's own labels, so a good-only gate (which knows only good vs anomaly) is
    broken down by the real defect classes too.
    """
    labels = np.array([s.label for s in scored.samples])
    figures = {}
    for c in sorted(set(labels[is_defect])):
        keep = (labels == c) | ~is_defect
        figures[str(c)] = metrics.auroc(is_defect[keep], scored.defect_scores[keep])
    return figures


def judge(model: BundleRuntime, scored: ScoredSamples) -> list[Verdict]:
    """Each sample's verdict by the card's thresholds, judged as predict() judges a part."""
    none = [None] * len(scored.defect_scores)
    anomaly = scored.anomaly_scores if scored.anomaly_scores is not None else none
    own = scored.classifier_scores if scored.classifier_scores is not None else none  # fused only
    return [decide(float(v), model.card.thresholds, a, o, model.own_ng())
            for v, a, o in zip(scored.defect_scores, anomaly, own, strict=True)]


def summarise(model: BundleRuntime, scored: ScoredSamples) -> dict:
    """The evaluation JSON: counts, accuracy, macro-F1, defect recall, false-reject rate, AUROC."""
    card = model.card
    classes = card.classes
    labels = [label_for(card, s.label) for s in scored.samples]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise DatasetError(f"dataset has classes the model does not know: {', '.join(unknown)}")
    y_true = np.array([classes.index(label) for label in labels], dtype=np.int64)
    y_pred = scored.probs.argmax(axis=1) if len(y_true) else np.zeros(0, dtype=np.int64)
    is_defect = np.array([label not in card.good_classes for label in labels], dtype=bool)
    verdicts = judge(model, scored)
    flagged = np.array([v is not Verdict.OK for v in verdicts], dtype=bool)
    judged = list(zip(verdicts, is_defect, strict=True))
    recall, frr = metrics.flag_rates(is_defect, flagged)
    cm = metrics.confusion_matrix(y_true, y_pred, len(classes))
    peaks = scored.peaks_in_mask
    extra = _gate_figures(card, scored, is_defect) if scored.anomaly_scores is not None \
        and not model.is_gate else {}
    extra["auroc_by_defect_class"] = _auroc_by_defect_class(scored, is_defect)
    if scored.components:  # what each of a banked gate's two scores achieves alone
        extra["score_components_auroc"] = {k: metrics.auroc(is_defect, v)
                                           for k, v in scored.components.items()}
    return {
        "n": len(scored.samples),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else None,
        "macro_f1": metrics.macro_f1(cm),
        "defect_recall": recall,
        "false_reject_rate": frr,
        "expected_false_reject": metrics.expected_false_reject(flagged[~is_defect]),
        "expected_recall": metrics.expected_recall(flagged[is_defect]),
        "auroc": metrics.auroc(is_defect, scored.defect_scores),
        "score_margin": metrics.score_margin(is_defect, scored.defect_scores),
        "n_defect": int(is_defect.sum()),
        "n_good": int((~is_defect).sum()),
        **metrics.misjudged([f"{s.label}/{s.path.name}" for s in scored.samples], is_defect, flagged),
        "verdicts": dict(Counter(v.value for v in verdicts)),
        # where the false rejects go: scrap (NG) or a person's check (REVIEW); likewise the catches
        "verdicts_by_truth": {"good": dict(Counter(v.value for v, d in judged if not d)),
                              "defect": dict(Counter(v.value for v, d in judged if d))},
        "thresholds": {"ng": card.thresholds.ng, "review": card.thresholds.review,
                       "anomaly": card.thresholds.anomaly},
        "per_class": metrics.per_class_scores(cm, classes),
        "confusion": {"classes": classes, "matrix": cm.tolist()},
        "heatmap_peak_in_mask": float(np.mean([p[0] for p in peaks])) if peaks else None,
        "heatmap_peak_within_4px": float(np.mean([p[1] for p in peaks])) if peaks else None,
        "heatmap_n": len(peaks),
        "skipped": scored.skipped,
        "model": card.version,
        "tta_views": card.tta_views,
        **extra,
    }


def headline(m: dict) -> dict:
    """The figures a card keeps of an evaluation (the full JSON goes to report.json)."""
    keys = ("n", "accuracy", "macro_f1", "defect_recall", "false_reject_rate",
            "expected_false_reject", "expected_recall", "auroc", "heatmap_peak_in_mask")
    return {k: m.get(k) for k in keys}


def evaluate(model: BundleRuntime, samples: Sequence[Sample], batch: int = 16) -> dict:
    """Score and summarise in one call."""
    return summarise(model, score_samples(model, samples, batch))
