"""Class-balanced batch sampling (p ~ sqrt(class count)) for the crop and full-image phases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inspector.model.preprocess import Canvas
from training.augment import AugmentConfig, augment_crop, augment_full
from training.data import CachedSplit
from training.synthetic_defects import MIXES, synthesize

MASK_SUPERVISED, LABELS_ONLY, GOOD_ONLY = "mask-supervised", "labels-only", "good-only"


@dataclass
class Batch:
    """Tensors for one training step; each per-sample weight switches one loss term on or off."""

    images: torch.Tensor       # N x 1 x H x W
    labels: torch.Tensor       # N
    masks: torch.Tensor        # N x 1 x H x W (0/1 float)
    seg_weight: torch.Tensor   # N: pixel loss (1 where the mask is known)
    cls_weight: torch.Tensor   # N: class cross-entropy (0 for synthetic defects of labels-only)
    aux_weight: torch.Tensor   # N: "not good" loss for synthetic defects of labels-only
    mil_weight: torch.Tensor   # N: defect-map max must be high (real defects, location unknown)


@dataclass(frozen=True)
class SynthConfig:
    """How often good images get a synthetic defect, per phase, and which kinds (a MIXES name)."""

    crop_p: float = 0.5
    full_p: float = 0.3
    mix: str = "v1"


@dataclass
class _Item:
    image: np.ndarray
    mask: np.ndarray
    label: int
    seg: float = 1.0
    cls: float = 1.0
    aux: float = 0.0
    mil: float = 0.0


def class_shares(counts: np.ndarray, good_index: int, good_share: float | None = None) -> np.ndarray:
    """How often each class is drawn: p ~ sqrt(count); with good_share, the good class gets that
    share of the draws and the other classes split the rest by sqrt(count) (0 or None: unset)."""
    weights = np.sqrt(np.asarray(counts, dtype=np.float64))
    others = weights.copy()
    others[good_index] = 0.0
    if not good_share or others.sum() == 0:  # unset, or no other class to give the rest to
        return weights / weights.sum()
    shares = (1.0 - good_share) * others / others.sum()
    shares[good_index] = good_share
    return shares


class BalancedSampler:
    """Draws classes with probability proportional to sqrt(count) (or the good class at a set
    share, see class_shares), then an image of that class.

    Recipes: mask-supervised (real masks), labels-only (synthetic defects on good images give the
    pixel loss; real defects get cross-entropy and a max-pooled map loss), good-only (classes are
    [good, anomaly]; synthetic defects are the anomaly class).
    """

    def __init__(self, data: CachedSplit, n_classes: int, good_index: int, size: Canvas, seed: int,
                 augment: AugmentConfig | None = None, recipe: str = MASK_SUPERVISED,
                 synth: SynthConfig | None = None, anomaly_index: int = 1,
                 good_share: float | None = None) -> None:
        self.data, self.size, self.good_index = data, size, good_index
        self.recipe, self.anomaly_index = recipe, anomaly_index
        self.synth = synth or SynthConfig()
        self.pseudo: dict[int, np.ndarray] = {}  # labels-only: located real defects (pseudo-masks)
        self.rng = np.random.default_rng(seed)
        self.cfg = augment or AugmentConfig()
        self.members = data.by_class(n_classes)
        counts = np.array([len(m) for m in self.members], dtype=np.float64)
        self.class_p = class_shares(counts, good_index, good_share)

    def _draw(self) -> int:
        k = int(self.rng.choice(len(self.class_p), p=self.class_p))
        return int(self.rng.choice(self.members[k]))

    def _synthetic(self, img: np.ndarray) -> _Item | None:
        """A good image with a synthetic defect, or None when the defect came out empty."""
        out, mask = synthesize(img, self.rng, kind_p=MIXES[self.synth.mix])
        if not mask.any():
            return None
        if self.recipe == GOOD_ONLY:
            return _Item(out, mask, self.anomaly_index)
        return _Item(out, mask, self.good_index, cls=0.0, aux=1.0)

    def _item(self, i: int, synth_p: float) -> _Item | None:
        img, label, mask = self.data.images[i], self.data.labels[i], self.data.masks[i]
        if self.recipe == MASK_SUPERVISED:
            if mask is None:
                return _Item(img, np.zeros_like(img), label, seg=0.0)
            return _Item(img, mask, label)
        if label == self.good_index:
            if self.rng.random() < synth_p:
                return self._synthetic(img)
            return _Item(img, np.zeros_like(img), label)
        return _Item(img, np.zeros_like(img), label, seg=0.0, mil=1.0)

    def full_batch(self, n: int) -> Batch:
        """One full-canvas batch drawn here (training draws through training.prefetch)."""
        return to_batch(self.full_items(n))

    def full_items(self, n: int) -> list[_Item]:
        """A full-canvas batch as plain arrays (what a prefetch worker sends back)."""
        items = []
        while len(items) < n:
            item = self._item(self._draw(), self.synth.full_p)
            if item is None:
                continue
            canvas, mask = augment_full(item.image, item.mask, self.size, self.rng, self.cfg)
            item.image, item.mask = canvas, mask
            items.append(item)
        return items

    def crop_batch(self, n: int, crop: int) -> Batch:
        """One crop batch drawn here (training draws through training.prefetch)."""
        return to_batch(self.crop_items(n, crop))

    def crop_items(self, n: int, crop: int) -> list[_Item]:
        """Crops need known masks: a crop holding no defect pixel is labelled with the good class."""
        items = []
        while len(items) < n:
            item = self._crop_source(self._draw())
            if item is None:
                continue
            is_defect = item.label != self.good_index or item.aux > 0
            patch, pmask = augment_crop(item.image, item.mask, crop, is_defect, self.rng, self.cfg)
            item.image, item.mask = patch, pmask
            if item.mil > 0:  # a located real defect: its crop keeps the label
                if not pmask.any():
                    continue  # may or may not hold the defect: no label to give
                item.mask = np.zeros_like(pmask)
            elif not pmask.any():  # the crop missed the defect: a plain good crop
                item.label, item.cls, item.aux = self.good_index, 1.0, 0.0
            items.append(item)
        return items

    def _crop_source(self, i: int) -> _Item | None:
        if self.recipe == MASK_SUPERVISED:
            mask = self.data.masks[i]
            return None if mask is None else _Item(self.data.images[i], mask, self.data.labels[i])
        if self.data.labels[i] != self.good_index:
            if i not in self.pseudo:
                return None  # a real defect's location is unknown: it cannot be cropped safely
            return _Item(self.data.images[i], self.pseudo[i], self.data.labels[i], seg=0.0, mil=1.0)
        return self._item(i, self.synth.crop_p)


def to_batch(items: list[_Item]) -> Batch:
    def weights(name: str) -> torch.Tensor:
        return torch.tensor([getattr(it, name) for it in items], dtype=torch.float32)

    return Batch(
        images=torch.from_numpy(np.stack([it.image for it in items])[:, None]).contiguous(
            memory_format=torch.channels_last),
        labels=torch.tensor([it.label for it in items], dtype=torch.long),
        masks=torch.from_numpy(np.stack([it.mask for it in items])[:, None].astype(np.float32)),
        seg_weight=weights("seg"), cls_weight=weights("cls"), aux_weight=weights("aux"),
        mil_weight=weights("mil"),
    )
