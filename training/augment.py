"""Augmentations for inspection images: geometry, gamma/contrast, placement, crops, noise."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.model.preprocess import Canvas, canvas_hw, place, standardise


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random changes applied to each training image."""

    scale: tuple[float, float] = (0.8, 1.0)
    gamma: float = 0.3        # log-gamma drawn from [-gamma, gamma]
    contrast: float = 0.2     # contrast factor drawn from [1 - c, 1 + c]
    noise: float = 0.05       # Gaussian noise std in standardised units
    defect_centre_p: float = 0.8  # crops: probability of centring on a defect pixel
    # Crops: how far (px) a crop may reach past the image edge, zero-filled as the canvas padding
    # is at serving. At 0 a crop stays inside the image, so a defect at the tile edge is only ever
    # seen at the crop's own border and never against the padding it meets on the canvas. (A side
    # shorter than the crop is overhung at 0 already; there the window slides up to M px further.)
    crop_margin: int = 0


def _geometry(img: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator, cfg: AugmentConfig,
              quarter_turns: bool = True):
    s = rng.uniform(*cfg.scale)
    if s < 0.999:
        h, w = max(1, round(img.shape[0] * s)), max(1, round(img.shape[1] * s))
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        mask = None if mask is None else cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
    # A non-square canvas takes no quarter turn: it would stand the part across the canvas.
    k = int(rng.integers(4)) if quarter_turns else 2 * int(rng.integers(2))
    flip = bool(rng.integers(2))
    img = np.rot90(img, k)
    mask = None if mask is None else np.rot90(mask, k)
    if flip:
        img = img[:, ::-1]
        mask = None if mask is None else mask[:, ::-1]
    return img, mask


def _photometric(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    x = img.astype(np.float32) / 255.0
    x = np.power(x, np.exp(rng.uniform(-cfg.gamma, cfg.gamma)))
    mean = x.mean()
    x = (x - mean) * rng.uniform(1 - cfg.contrast, 1 + cfg.contrast) + mean
    return standardise(np.clip(x, 0.0, 1.0) * 255.0)


def augment_full(img: np.ndarray, mask: np.ndarray | None, size: Canvas, rng: np.random.Generator,
                 cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray | None]:
    """A full training canvas: random scale, rot90 (square canvases; else rot180) and flip,
    photometric jitter, random placement."""
    height, width = canvas_hw(size)
    img, mask = _geometry(img, mask, rng, cfg, quarter_turns=height == width)
    content = _photometric(img, rng, cfg)
    h, w = content.shape
    top, left = int(rng.integers(height - h + 1)), int(rng.integers(width - w + 1))
    canvas, _ = place(content, (height, width), top, left)
    canvas += rng.normal(0.0, cfg.noise, canvas.shape).astype(np.float32)
    mask_canvas = None
    if mask is not None:
        mask_canvas = np.zeros((height, width), dtype=np.uint8)
        mask_canvas[top:top + h, left:left + w] = mask
    return canvas, mask_canvas


def _crop_origin(mask: np.ndarray | None, shape: tuple[int, int], crop: int, on_defect: bool,
                 rng: np.random.Generator, margin: int = 0) -> tuple[int, int]:
    h, w = shape
    lo_y, hi_y = min(0, h - crop) - margin, max(0, h - crop) + margin
    lo_x, hi_x = min(0, w - crop) - margin, max(0, w - crop) + margin
    if on_defect and mask is not None and mask.any():
        ys, xs = np.nonzero(mask)
        i = int(rng.integers(len(ys)))
        jitter = crop // 4
        cy = ys[i] + int(rng.integers(-jitter, jitter + 1))
        cx = xs[i] + int(rng.integers(-jitter, jitter + 1))
        top, left = cy - crop // 2, cx - crop // 2
    else:
        top, left = int(rng.integers(lo_y, hi_y + 1)), int(rng.integers(lo_x, hi_x + 1))
    return int(np.clip(top, lo_y, hi_y)), int(np.clip(left, lo_x, hi_x))


def augment_crop(img: np.ndarray, mask: np.ndarray, crop: int, is_defect: bool,
                 rng: np.random.Generator, cfg: AugmentConfig) -> tuple[np.ndarray, np.ndarray]:
    """A crop x crop patch (standardised on the whole image), centred on a defect pixel with p=0.8."""
    img, mask = _geometry(img, mask, rng, cfg)
    content = _photometric(img, rng, cfg)
    on_defect = is_defect and rng.random() < cfg.defect_centre_p
    top, left = _crop_origin(mask, content.shape, crop, on_defect, rng, cfg.crop_margin)
    patch = np.zeros((crop, crop), dtype=np.float32)
    patch_mask = np.zeros((crop, crop), dtype=np.uint8)
    sy, sx = max(0, top), max(0, left)
    ey, ex = min(content.shape[0], top + crop), min(content.shape[1], left + crop)
    patch[sy - top:ey - top, sx - left:ex - left] = content[sy:ey, sx:ex]
    patch_mask[sy - top:ey - top, sx - left:ex - left] = mask[sy:ey, sx:ex]
    patch += rng.normal(0.0, cfg.noise, patch.shape).astype(np.float32)
    return patch, patch_mask
