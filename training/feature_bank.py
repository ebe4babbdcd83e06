"""Build a good-only gate's feature bank: window and image features of the good training images."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from inspector.datasets import Sample
from inspector.errors import DatasetError
from inspector.model.feature_bank import (
    POOL,
    Calibration,
    FeatureBank,
    ImageBank,
    content_cells,
    image_descriptor,
    pooled_cells,
)
from inspector.model.preprocess import Canvas, Placement, prepare_batch, read_image

logger = logging.getLogger(__name__)

BANK_SIZE = 4096        # patches kept: scoring one image costs ~patches x BANK_SIZE x C flops
POOL_SIZE = 40_000      # random patches the greedy selection starts from
PROJECTION_DIMS = 32    # the greedy selection compares random projections (faster, nearly as good)


def _prepared_batches(samples: Sequence[Sample], size: Canvas, batch: int, purpose: str
                      ) -> Iterator[tuple[np.ndarray, list[Placement]]]:
    """Readable images in batches, prepared like serving; unreadable ones are named and skipped."""
    for start in range(0, len(samples), batch):
        images = []
        for s in samples[start:start + batch]:
            try:
                images.append(read_image(s.path))
            except DatasetError as exc:
                logger.warning("%s: skipping %s", purpose, exc)
        if images:
            yield prepare_batch(images, size)


@torch.inference_mode()
def good_features(model: torch.nn.Module, samples: Sequence[Sample], size: Canvas, device: torch.device,
                  pool: int, batch: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(window features P x C, image descriptors N x 2C) of every readable image, as served."""
    model.eval()
    windows, descriptors = [], []
    for x, placements in _prepared_batches(samples, size, batch, "feature bank"):
        _, _, feats = model.forward_with_features(torch.from_numpy(x).to(device))
        feats = feats.float().cpu().numpy()
        for j, placement in enumerate(placements):
            rows, cols = content_cells(placement, feats.shape[2:])
            cells = feats[j, :, rows, cols]
            pooled = pooled_cells(cells, pool)
            windows.append(pooled.reshape(pooled.shape[0], -1).T)
            descriptors.append(image_descriptor(cells))
    if not windows:
        raise DatasetError("no readable good images to build the feature bank from")
    return np.concatenate(windows).astype(np.float32), np.stack(descriptors)


def greedy_coreset(patches: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k patches chosen farthest-first, so rare good textures stay covered (PatchCore's subsampling)."""
    rng = np.random.default_rng(seed)
    if len(patches) > POOL_SIZE:
        patches = patches[rng.choice(len(patches), POOL_SIZE, replace=False)]
    if len(patches) <= k:
        return patches
    proj = patches @ rng.normal(size=(patches.shape[1], PROJECTION_DIMS)).astype(np.float32)
    chosen = [int(rng.integers(len(proj)))]
    nearest = np.linalg.norm(proj - proj[chosen[0]], axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        np.minimum(nearest, np.linalg.norm(proj - proj[nxt], axis=1), out=nearest)
    return patches[np.array(chosen)]


def build_bank(model: torch.nn.Module, samples: Sequence[Sample], size: Canvas, device: torch.device,
               seed: int, k: int = BANK_SIZE, pool: int = POOL, image_bank: bool = True) -> FeatureBank:
    """The uncalibrated bank from the good training images (calibrate() on val goods next)."""
    windows, descriptors = good_features(model, samples, size, device, pool)
    chosen = greedy_coreset(windows, k, seed)
    logger.info("feature bank: %d of %d good %dx%d windows kept (%d features each), %s", len(chosen),
                len(windows), pool, pool, chosen.shape[1],
                f"{len(descriptors)} image descriptors" if image_bank else "no image bank")
    return FeatureBank(chosen, None, pool=pool, images=ImageBank.fit(descriptors) if image_bank else None)


def calibrate(gate, samples: Sequence[Sample], p_weight: float = 0.0, batch: int = 16) -> Calibration:
    """Standardise p(anomaly) and the distances on the val good images, through the serving runtime."""
    p_all, parts_all = [], []
    for x, placements in _prepared_batches(samples, gate.card.canvas, batch, "calibration"):
        _, p_anomaly, distances, _ = gate.raw_gate_scores(x, placements)
        if distances is None:
            raise DatasetError("the gate bundle has no feature bank to calibrate")
        p_all.append(p_anomaly)
        parts_all.append(distances)
    if not p_all:
        raise DatasetError("no readable good validation images to calibrate the feature bank on")
    image = [d["image_distance"] for d in parts_all if "image_distance" in d]
    return Calibration.fit(np.concatenate(p_all), np.concatenate([d["feature_distance"] for d in parts_all]),
                           p_weight, np.concatenate(image) if image else None)
