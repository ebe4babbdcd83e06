"""Decode each training image once, resized to fit the canvas, and keep it in memory with its mask."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from inspector.datasets import Sample
from inspector.errors import DatasetError
from inspector.model.preprocess import Canvas, read_image, resize_to_fit

logger = logging.getLogger(__name__)


@dataclass
class CachedSplit:
    """Images (uint8, fitted to the canvas), masks (uint8 0/1 or None) and class indices."""

    images: list[np.ndarray] = field(default_factory=list)
    masks: list[np.ndarray | None] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def by_class(self, n_classes: int) -> list[np.ndarray]:
        labels = np.asarray(self.labels)
        return [np.flatnonzero(labels == k) for k in range(n_classes)]


def _load_mask(sample: Sample, shape: tuple[int, int], size: Canvas, use_masks: bool,
               good: set[str]) -> np.ndarray | None:
    if not use_masks:
        return None
    h, w = shape
    if sample.label in good:
        return np.zeros((h, w), dtype=np.uint8)  # a good part has no defect pixels
    if sample.mask is None:
        return None
    raw = cv2.imread(str(sample.mask), cv2.IMREAD_GRAYSCALE)
    if raw is None:
        logger.warning("mask %s unreadable: this image trains without pixel supervision", sample.mask)
        return None
    return (resize_to_fit(raw, size, mask=True) > 127).astype(np.uint8)[:h, :w]


def load_split(samples: list[Sample], classes: list[str], size: Canvas, use_masks: bool,
               good: set[str]) -> CachedSplit:
    """Read every sample once; corrupt, unreadable or empty files are skipped with a warning."""
    out = CachedSplit()
    for s in samples:
        try:
            img = resize_to_fit(read_image(s.path), size)
        except DatasetError as exc:
            logger.warning("skipping %s", exc)
            out.skipped.append(str(s.path))
            continue
        out.images.append(img)
        out.masks.append(_load_mask(s, img.shape, size, use_masks, good))
        out.labels.append(classes.index(s.label))
        out.samples.append(s)
    return out
