"""Self-training on located real defects: the pseudo-mask target, its ignored ring, and the loss."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from training.batches import (
    IGNORE,
    LABELS_ONLY,
    RING,
    BalancedSampler,
    SynthConfig,
    _Item,
    pseudo_target,
    to_batch,
)
from training.data import CachedSplit
from training.loop import LossConfig, losses


def test_disk_is_defect_ring_is_ignored_and_far_pixels_are_good():
    disk = np.zeros((128, 128), np.uint8)
    disk[60:68, 60:68] = 1
    target = pseudo_target(disk)
    assert set(np.unique(target)) == {0, 1, IGNORE}
    assert (target[disk == 1] == 1).all()
    assert target[64, 68 + RING - 1] == IGNORE  # inside the ring, right of the disk
    assert target[64, 68 + RING + 2] == 0       # just past it
    assert target[0, 0] == 0
    assert not pseudo_target(np.zeros((16, 16), np.uint8)).any()  # nothing located: nothing kept


class MapOnly(torch.nn.Module):
    """A fake network returning a fixed defect map (and neutral logits) whatever the input."""

    def __init__(self, dmap: torch.Tensor):
        super().__init__()
        self.dmap = dmap

    def forward(self, x):
        return torch.zeros(x.shape[0], 2), self.dmap.expand(x.shape[0], -1, -1, -1)


def _seg_loss(mask: np.ndarray, dmap: torch.Tensor) -> float:
    batch = to_batch([_Item(np.zeros(mask.shape, np.float32), mask, 1)])
    return losses(MapOnly(dmap), batch, torch.device("cpu"), LossConfig(mil_weight=0.0))[2]


def test_ignored_cells_count_for_nothing_in_the_pixel_loss():
    mask = np.zeros((32, 32), np.uint8)
    mask[:8, :8] = 1          # cell (0, 0): defect
    mask[:8, 8:16] = IGNORE   # cell (0, 1): ignored
    base = torch.zeros(1, 1, 4, 4)
    moved_ignored, moved_kept = base.clone(), base.clone()
    moved_ignored[0, 0, 0, 1] = 7.0
    moved_kept[0, 0, 3, 3] = 7.0
    assert _seg_loss(mask, moved_ignored) == pytest.approx(_seg_loss(mask, base))
    assert _seg_loss(mask, moved_kept) > _seg_loss(mask, base) + 0.1
    # a cell holding both a defect and an ignored pixel is a defect cell
    mixed = mask.copy()
    mixed[0, 0] = IGNORE
    assert _seg_loss(mixed, base) == pytest.approx(_seg_loss(mask, base))


def _located_sampler(pseudo_masks: bool) -> BalancedSampler:
    rng = np.random.default_rng(0)
    data = CachedSplit()
    for i in range(8):
        data.images.append(rng.integers(60, 200, (96, 96), dtype=np.uint8))
        data.masks.append(None)
        data.labels.append(i % 2)
    sampler = BalancedSampler(data, 2, 0, 96, seed=1, recipe=LABELS_ONLY,
                              synth=SynthConfig(0.0, 0.0, "v1", pseudo_masks=pseudo_masks))
    for i in (1, 3, 5, 7):
        disk = np.zeros((96, 96), np.uint8)
        disk[40:48, 40:48] = 1
        sampler.pseudo[i] = disk
    return sampler


@pytest.mark.parametrize("pseudo_masks", [False, True])
def test_located_crops_get_the_pixel_loss_only_with_pseudo_masks(pseudo_masks):
    items = _located_sampler(pseudo_masks).crop_items(40, 32)
    located = [it for it in items if it.mil > 0]
    assert located, "some crops come from located real defects"
    if pseudo_masks:
        assert all(it.seg == 1.0 and (it.mask == 1).any() for it in located)
        assert all(set(np.unique(it.mask)) <= {0, 1, IGNORE} for it in located)
    else:
        assert all(it.seg == 0.0 and not it.mask.any() for it in located)
    good = [it for it in items if it.mil == 0]
    assert good and all(not (it.mask == IGNORE).any() for it in good)  # good crops: no ignored pixels
