"""Torch classifier over model.pt (a state_dict loaded with weights_only=True)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from inspector.errors import ModelError
from inspector.model.card import ModelCard
from inspector.model.feature_bank import FeatureBank
from inspector.model.network import build_network
from inspector.model.onnx_backend import ONNX_FILE, bank_file_for
from inspector.model.runtime import BundleRuntime

WEIGHTS_FILE = "model.pt"


def load_network(folder: Path, card: ModelCard) -> torch.nn.Module:
    """Build the card's network and load model.pt into it; mismatches are a ModelError."""
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(f"model bundle {folder}: {WEIGHTS_FILE} is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise ModelError(f"model bundle {folder}: {WEIGHTS_FILE} is corrupt ({exc})") from exc
    if not isinstance(state, dict):
        raise ModelError(f"model bundle {folder}: {WEIGHTS_FILE} is not a state_dict")
    net = build_network(card.arch, len(card.classes), card.channels, **card.arch_params)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelError(f"model bundle {folder}: card.json does not match {WEIGHTS_FILE} "
                         f"(arch {card.arch}, {len(card.classes)} classes): {first}") from exc
    return net.eval()


class TorchClassifier(BundleRuntime):
    """Runs the network in torch eager mode (CPU, or CUDA when asked)."""

    def __init__(self, folder: Path, card: ModelCard, threads: int = 2, max_batch: int = 16,
                 device: str = "cpu") -> None:
        self.card, self.max_batch = card, max_batch
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.net = load_network(folder, card).to(self.device)
        if card.feature_bank is not None:
            self.bank = FeatureBank.load(Path(folder) / bank_file_for(ONNX_FILE), card.feature_bank)

    @torch.inference_mode()
    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
        outs = self.net.forward_with_features(x) if self.bank is not None else self.net(x)
        return tuple(o.float().cpu().numpy() for o in outs)
