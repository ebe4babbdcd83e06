"""Attach a good-only anomaly gate to a classifier bundle (anomaly.onnx + thresholds.anomaly)."""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

from inspector.errors import ModelError
from inspector.model.card import ModelCard, Thresholds
from inspector.model.feature_bank import image_bank_path
from inspector.model.onnx_backend import GATE_ONNX_FILE, ONNX_FILE, bank_file_for

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
    target_bank = bundle / bank_file_for(GATE_ONNX_FILE)
    for wanted, source, target in ((gate.feature_bank is not None, source_bank, target_bank),
                                   (has_images, image_bank_path(source_bank), image_bank_path(target_bank))):
        if wanted:
            shutil.copyfile(source, target)
        elif target.exists():
            target.unlink()  # a previously attached gate's banks must not outlive it
    gate_dict = json.loads(gate.to_json())
    gate_dict.pop("gate", None)
    thresholds = Thresholds(card.thresholds.ng, card.thresholds.review, gate.thresholds.anomaly)
    new = dataclasses.replace(card, gate=gate_dict, thresholds=thresholds)
    new.validate()
    new.save(bundle)
    logger.info("attached gate %s (anomaly threshold %.4f) to %s", gate.version,
                gate.thresholds.anomaly, bundle)
    return new
