"""Locate real defects without masks: the defect map's peak gives a pseudo-mask for crops."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from inspector.model.preprocess import Canvas, place, standardise
from training.data import CachedSplit
from training.loop import STRIDE, autocast


def _peak(dmap: np.ndarray, top: int, left: int, h: int, w: int) -> tuple[int, int]:
    """(y, x) in content pixels of the highest defect-map cell whose centre lies on the content."""
    gy, gx = np.mgrid[0:dmap.shape[0], 0:dmap.shape[1]]
    cy, cx = gy * STRIDE + STRIDE // 2 - top, gx * STRIDE + STRIDE // 2 - left
    inside = (cy >= 0) & (cy < h) & (cx >= 0) & (cx < w)
    masked = np.where(inside, dmap, -np.inf)
    k = int(np.argmax(masked))
    return int(np.clip(cy.flat[k], 0, h - 1)), int(np.clip(cx.flat[k], 0, w - 1))


@torch.inference_mode()
def locate_defects(model: torch.nn.Module, data: CachedSplit, good_index: int, size: Canvas,
                   device: torch.device, radius: int = 12, batch: int = 16,
                   precision: str = "fp32") -> dict[int, np.ndarray]:
    """Pseudo-masks (a disk at the defect map's peak) for every defect image of `data`."""
    model.eval()
    wanted = [i for i, label in enumerate(data.labels) if label != good_index]
    out: dict[int, np.ndarray] = {}
    for start in range(0, len(wanted), batch):
        chunk = wanted[start:start + batch]
        placed = [place(standardise(data.images[i]), size) for i in chunk]
        x = torch.from_numpy(np.stack([c for c, _ in placed])[:, None]).to(device)
        with autocast(device, precision):
            _, dmap = model(x.contiguous(memory_format=torch.channels_last))
        maps = dmap[:, 0].float().cpu().numpy()
        for j, i in enumerate(chunk):
            p = placed[j][1]
            y, x_ = _peak(maps[j], p.top, p.left, p.height, p.width)
            mask = np.zeros((p.height, p.width), np.uint8)
            cv2.circle(mask, (x_, y), radius, 1, -1)
            out[i] = mask
    return out
