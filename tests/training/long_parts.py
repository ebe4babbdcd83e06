"""A generated dataset family unlike magnetic-tile: long narrow parts, two classes, thin small defects."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def long_part(rng: np.random.Generator, height: int = 100, width: int = 500) -> np.ndarray:
    """A machined strip: a brightness drift along its length, fine grain, soft grinding lines."""
    x = np.linspace(0, 1, width)[None, :]
    base = 120 + 25 * np.sin(2 * np.pi * (x * rng.uniform(0.5, 1.5) + rng.uniform()))
    grain = cv2.GaussianBlur(rng.normal(0, 10, (height, width)), (0, 0), 1.2)
    lines = 6 * np.sin(np.arange(height)[:, None] * rng.uniform(0.8, 1.2))
    return np.clip(base + grain + lines, 0, 255).astype(np.uint8)


def thin_defect(img: np.ndarray, rng: np.random.Generator, width: int = 2) -> np.ndarray:
    """A hairline crack: `width` px wide, 25-45 px long, at a random place and angle; darker than the part."""
    out = img.copy()
    h, w = img.shape
    length, angle = rng.uniform(25, 45), rng.uniform(0, np.pi)
    cy, cx = rng.uniform(15, h - 15), rng.uniform(30, w - 30)
    dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
    mask = np.zeros_like(img)
    cv2.line(mask, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 1, width)
    out[mask > 0] = np.clip(out[mask > 0].astype(np.int16) - 70, 0, 255).astype(np.uint8)
    return out


def make_long_parts(root: Path, ok: int = 40, defect: int = 20, seed: int = 0,
                    height: int = 100, width: int = 500, crack: int = 2) -> Path:
    """<root>/ok and <root>/defect, image labels only (the flat layout); returns root."""
    rng = np.random.default_rng(seed)
    for label, count in (("ok", ok), ("defect", defect)):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            img = long_part(rng, height, width)
            if label == "defect":
                img = thin_defect(img, rng, crack)
            cv2.imwrite(str(root / label / f"{label}_{i:03d}.png"), img)
    return root
