"""Locating real defects by the defect map's peak, in content pixels, padding excluded."""

import numpy as np
import pytest

pytest.importorskip("torch")

import torch

from training.data import CachedSplit
from training.locate import locate_defects


class PeakAt(torch.nn.Module):
    """A fake network whose defect map peaks at one canvas cell (and is high on the padding)."""

    def __init__(self, cell):
        super().__init__()
        self.cell = cell

    def forward(self, x):
        n, _, h, w = x.shape
        dmap = torch.zeros(n, 1, h // 8, w // 8)
        dmap[:, :, 0, 0] = 9.0  # a padding cell: must be ignored
        dmap[:, :, self.cell[0], self.cell[1]] = 5.0
        return torch.zeros(n, 2), dmap


def test_pseudo_mask_sits_at_the_peak_inside_the_content():
    data = CachedSplit(images=[np.full((32, 64), 100, np.uint8)] * 2, masks=[None, None],
                       labels=[0, 1], samples=[None, None])
    pseudo = locate_defects(PeakAt((4, 3)), data, good_index=0, size=64,
                            device=torch.device("cpu"), radius=2)
    assert list(pseudo) == [1]  # good images are not located
    mask = pseudo[1]
    assert mask.shape == (32, 64)
    ys, xs = np.nonzero(mask)
    # canvas cell (4, 3) has its centre at (36, 28); the content starts at row 16 of the canvas
    assert (round(ys.mean()), round(xs.mean())) == (36 - 16, 28)
