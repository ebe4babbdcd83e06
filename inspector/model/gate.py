"""Attach a good-only anomaly gate to a classifier bundle, as an OR rule or fused into its score."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from inspector.datasets import Sample
from inspector.errors import DatasetError, ModelError
from inspector.model.card import ModelCard, Thresholds
from inspector.model.evaluation import score_samples
from inspector.model.feature_bank import image_bank_path
from inspector.model.fusion import FUSION_WEIGHT, Fusion
from inspector.model.loader import load_float_graphs
from inspector.model.onnx_backend import GATE_INT8_ONNX_FILE, GATE_ONNX_FILE, ONNX_FILE, bank_file_for
from inspector.model.thresholds import ThresholdRule, choose

logger = logging.getLogger(__name__)
GOOD_ONLY = "good-only"


def attach_gate(bundle: str | Path, gate_bundle: str | Path) -> ModelCard:
    """Copy the gate's ONNX graph into `bundle` and record its card and threshold; returns the card.

    The station then sends a part to REVIEW when the gate's anomaly score reaches
    thresholds.anomaly, even when the classifier says OK.
    """
    bundle, gate_bundle = Path(bundle), Path(gate_bundle)
    gate = ModelCard.load(gate_bundle)
    if gate.recipe != GOOD_ONLY or gate.thresholds.anomaly is None:
        raise ModelError(f"{gate_bundle} is not a good-only gate (recipe {gate.recipe!r}); "
                         "train one with: inspector train DATASET --good-only")
    if not (gate_bundle / ONNX_FILE).is_file():
        raise ModelError(f"gate bundle {gate_bundle}: {ONNX_FILE} is missing")
    card = ModelCard.load(bundle)
    if card.recipe == GOOD_ONLY:
        raise ModelError(f"{bundle} is itself a good-only gate: attach the gate to a classifier")
    source_bank = gate_bundle / bank_file_for(ONNX_FILE)
    has_images = bool(gate.feature_bank and gate.feature_bank.get("image_bank"))
    for wanted, path in ((gate.feature_bank is not None, source_bank),
                         (has_images, image_bank_path(source_bank))):
        if wanted and not path.is_file():
            raise ModelError(f"gate bundle {gate_bundle}: {path.name} is missing")
    shutil.copyfile(gate_bundle / ONNX_FILE, bundle / GATE_ONNX_FILE)
    # The new gate runs float (its card names no INT8 graph): one quantised from the last gate
    # must not be taken for it.
    (bundle / GATE_INT8_ONNX_FILE).unlink(missing_ok=True)
    target_bank = bundle / bank_file_for(GATE_ONNX_FILE)
    for wanted, source, target in ((gate.feature_bank is not None, source_bank, target_bank),
                                   (has_images, image_bank_path(source_bank), image_bank_path(target_bank))):
        if wanted:
            shutil.copyfile(source, target)
        elif target.exists():
            target.unlink()  # a previously attached gate's banks must not outlive it
    gate_dict = json.loads(gate.to_json())
    gate_dict.pop("gate", None)
    ng, review = card.thresholds.ng, card.thresholds.review
    fused = card.fused
    if fused is not None and fused.classifier_ng is not None:  # Fusion checks both or neither are set
        ng, review = fused.classifier_ng, fused.classifier_review  # the fused ones meant another score
    thresholds = Thresholds(ng, review, gate.thresholds.anomaly)
    new = card.with_verdict_rule(thresholds, None, gate=gate_dict)
    new.validate()
    new.save(bundle)
    logger.info("attached gate %s (anomaly threshold %.4f) to %s", gate.version,
                gate.thresholds.anomaly, bundle)
    return new


def fuse_gate(bundle: str | Path, val_samples: Sequence[Sample], rule: ThresholdRule,
              weight: float = FUSION_WEIGHT) -> ModelCard:
    """Fuse the attached gate into the defect score; calibrate and set thresholds on `val_samples`.

    The two scores are standardised on the good val parts; REVIEW and NG are then chosen on the
    fused score by `rule`, as for a classifier alone, and the OR rule is switched off.
    """
    bundle = Path(bundle)
    card = ModelCard.load(bundle)
    if card.gate is None:
        raise ModelError(f"{bundle} carries no gate to fuse: attach one first (inspector attach-gate)")
    unknown = sorted({s.label for s in val_samples} - set(card.classes))
    if unknown:
        raise DatasetError(f"val images have classes the model does not know: {', '.join(unknown)}")
    # On the float graphs, as tune-thresholds: an INT8 graph is judged against what this sets.
    scored = score_samples(load_float_graphs(bundle), val_samples)
    own = scored.classifier_scores if scored.classifier_scores is not None else scored.defect_scores
    is_defect = np.array([s.label not in card.good_classes for s in scored.samples], dtype=bool)
    previous = card.fused
    kept = (previous.classifier_ng, previous.classifier_review) if previous is not None else (
        card.thresholds.ng, card.thresholds.review)
    fusion = Fusion.fit(own[~is_defect], scored.anomaly_scores[~is_defect], weight, *kept)
    thresholds = choose(is_defect, fusion.combine(own, scored.anomaly_scores), rule)
    new = card.with_verdict_rule(thresholds, fusion.to_dict())
    new.validate()
    new.save(bundle)
    logger.info("fused gate %s into %s on %d val images (%d good): review %.4f, ng %.4f",
                card.gate_card.version, bundle, len(is_defect), int((~is_defect).sum()),
                thresholds.review, thresholds.ng)
    return new


def attach_and_fuse(bundle: str | Path, gate_bundle: str | Path, val_samples: Sequence[Sample],
                    rule: ThresholdRule) -> ModelCard:
    """Attach the gate and fuse it in, or leave the bundle exactly as it was when either step fails."""
    with _restored_on_error(Path(bundle)):
        attach_gate(bundle, gate_bundle)
        return fuse_gate(bundle, val_samples, rule)


@contextmanager
def _restored_on_error(bundle: Path):
    """Snapshot the files attaching a gate rewrites (a few MB); put them back if the block raises."""
    gate_bank = bundle / bank_file_for(GATE_ONNX_FILE)
    paths = [bundle / "card.json", bundle / GATE_ONNX_FILE, bundle / GATE_INT8_ONNX_FILE, gate_bank,
             image_bank_path(gate_bank)]
    saved = {p: p.read_bytes() if p.is_file() else None for p in paths}
    try:
        yield
    except BaseException:
        for path, content in saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        raise
