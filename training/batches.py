"""Class-balanced batch sampling (p ~ sqrt(class count)) for the crop and full-image phases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from training.augment import AugmentConfig, augment_crop, augment_full
from training.data import CachedSplit


@dataclass
class Batch:
    """Tensors for one training step; seg_weight is 0 where a sample has no mask."""

    images: torch.Tensor       # N x 1 x H x W
    labels: torch.Tensor       # N
    masks: torch.Tensor        # N x 1 x H x W (0/1 float)
    seg_weight: torch.Tensor   # N


class BalancedSampler:
    """Draws classes with probability proportional to sqrt(count), then an image of that class."""

    def __init__(self, data: CachedSplit, n_classes: int, good_index: int, size: int, seed: int,
                 augment: AugmentConfig | None = None) -> None:
        self.data, self.size, self.good_index = data, size, good_index
        self.rng = np.random.default_rng(seed)
        self.cfg = augment or AugmentConfig()
        self.members = data.by_class(n_classes)
        counts = np.array([len(m) for m in self.members], dtype=np.float64)
        weights = np.sqrt(counts)
        self.class_p = weights / weights.sum()

    def _draw(self) -> int:
        k = int(self.rng.choice(len(self.class_p), p=self.class_p))
        return int(self.rng.choice(self.members[k]))

    def full_batch(self, n: int) -> Batch:
        imgs, masks, labels, weights = [], [], [], []
        for _ in range(n):
            i = self._draw()
            canvas, mask = augment_full(self.data.images[i], self.data.masks[i], self.size, self.rng,
                                        self.cfg)
            imgs.append(canvas)
            masks.append(mask if mask is not None else np.zeros_like(canvas, dtype=np.uint8))
            weights.append(0.0 if mask is None else 1.0)
            labels.append(self.data.labels[i])
        return _to_batch(imgs, masks, labels, weights)

    def crop_batch(self, n: int, crop: int) -> Batch:
        """Crops need masks: a crop holding no defect pixel is labelled with the good class."""
        imgs, masks, labels = [], [], []
        while len(imgs) < n:
            i = self._draw()
            mask = self.data.masks[i]
            if mask is None:
                continue
            label = self.data.labels[i]
            patch, pmask = augment_crop(self.data.images[i], mask, crop, label != self.good_index,
                                        self.rng, self.cfg)
            imgs.append(patch)
            masks.append(pmask)
            labels.append(label if pmask.any() else self.good_index)
        return _to_batch(imgs, masks, labels, [1.0] * n)


def _to_batch(imgs, masks, labels, weights) -> Batch:
    return Batch(
        images=torch.from_numpy(np.stack(imgs)[:, None]).contiguous(memory_format=torch.channels_last),
        labels=torch.tensor(labels, dtype=torch.long),
        masks=torch.from_numpy(np.stack(masks)[:, None].astype(np.float32)),
        seg_weight=torch.tensor(weights, dtype=torch.float32),
    )
