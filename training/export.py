"""Write a model bundle: model.pt (state_dict), model.onnx (one self-contained file), card.json."""

from __future__ import annotations

import copy
import dataclasses
import logging
import warnings
from pathlib import Path

import torch

from inspector.model.card import ModelCard
from inspector.model.network import WithFeatures
from inspector.model.onnx_backend import ONNX_FILE, weights_hash
from inspector.model.torch_backend import WEIGHTS_FILE

logger = logging.getLogger(__name__)
OPSET = 17


def export_onnx(model: torch.nn.Module, card: ModelCard, path: Path) -> None:
    """Export with a dynamic batch axis, weights embedded (no external-data sidecar)."""
    net = copy.deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    outputs = ["logits", "defect_map"]
    if card.feature_bank is not None:  # a gate with a feature bank also outputs patch features
        net, outputs = WithFeatures(net), [*outputs, "features"]
    dummy = torch.zeros(2, card.channels, *card.canvas)  # the graph's input is fixed to the card's canvas
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not actionable here
        torch.onnx.export(
            net, (dummy,), str(path), input_names=["image"], output_names=outputs,
            dynamic_axes={name: {0: "batch"} for name in ["image", *outputs]},
            opset_version=OPSET, dynamo=False, external_data=False,
        )


def write_bundle(model: torch.nn.Module, card: ModelCard, folder: Path) -> str:
    """Save weights, ONNX graph and card into `folder` (created if needed); returns the graph's
    weights_hash, which the card now records."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILE)
    export_onnx(model, card, folder / ONNX_FILE)
    digest = weights_hash(folder / ONNX_FILE)
    dataclasses.replace(card, weights_hash=digest).save(folder)
    return digest
