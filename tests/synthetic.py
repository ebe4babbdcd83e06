"""Synthetic inspection images for tests: textured tiles with planted blobs or scratches and masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def tile(rng: np.random.Generator, h: int = 72, w: int = 96) -> np.ndarray:
    """A gray tile with low-frequency shading and sensor noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    shade = 120 + 20 * np.sin(xx / (w / rng.uniform(1.5, 3.0))) + 10 * np.cos(yy / (h / 2.0))
    img = shade + rng.normal(0, 4, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def plant(img: np.ndarray, kind: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw a dark blob or a bright scratch; return the image and its exact mask."""
    h, w = img.shape
    mask = np.zeros((h, w), np.uint8)
    if kind == "blob":
        c = (int(rng.integers(w // 4, 3 * w // 4)), int(rng.integers(h // 4, 3 * h // 4)))
        cv2.circle(mask, c, int(rng.integers(6, 10)), 255, -1)
        value = 30
    else:
        p1 = (int(rng.integers(0, w // 3)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(2 * w // 3, w)), int(rng.integers(0, h)))
        cv2.line(mask, p1, p2, 255, 3)
        value = 240
    out = img.copy()
    out[mask > 0] = value
    return out, mask


def make_dataset(root: Path, per_class: int = 12, seed: int = 0, masks: bool = True,
                 classes: tuple[str, ...] = ("free", "blob", "scratch")) -> Path:
    """images/<class>/*.png (+ masks/<class>/*.png) under root; returns root."""
    rng = np.random.default_rng(seed)
    for label in classes:
        (root / "images" / label).mkdir(parents=True, exist_ok=True)
        if masks:
            (root / "masks" / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = tile(rng)
            mask = np.zeros_like(img)
            if label != "free":
                img, mask = plant(img, label, rng)
            cv2.imwrite(str(root / "images" / label / f"{label}_{i:03d}.png"), img)
            if masks:
                cv2.imwrite(str(root / "masks" / label / f"{label}_{i:03d}.png"), mask)
    return root
