"""Class shares of the sampler: sqrt(count), or a set share of good draws (the labels-only default)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from inspector.errors import ConfigError
from training.batches import MASK_SUPERVISED, BalancedSampler, class_shares
from training.data import CachedSplit
from training.options import check_args, get_args_parser

COUNTS = np.array([75, 55, 37, 21, 619, 67])  # magnetic-tile train: free is class 4
GOOD = 4


def test_default_is_sqrt_of_the_counts():
    p = class_shares(COUNTS, GOOD)
    assert p.sum() == pytest.approx(1.0)
    assert p[GOOD] == pytest.approx(np.sqrt(619) / np.sqrt(COUNTS).sum())
    assert p[0] / p[3] == pytest.approx(np.sqrt(75 / 21))


def test_good_share_is_set_and_the_defects_keep_their_sqrt_ratios():
    p = class_shares(COUNTS, GOOD, 0.6)
    assert p.sum() == pytest.approx(1.0)
    assert p[GOOD] == pytest.approx(0.6)
    assert p[0] / p[3] == pytest.approx(np.sqrt(75 / 21))  # the defect classes' balance is unchanged
    assert np.delete(p, GOOD).sum() == pytest.approx(0.4)


def test_a_split_of_good_images_only_keeps_drawing_them():
    p = class_shares(np.array([40, 0]), 0, 0.6)  # good-only training: no anomaly rows
    assert p.tolist() == [1.0, 0.0]


def _split(counts: list[int]) -> CachedSplit:
    rng = np.random.default_rng(0)
    data = CachedSplit()
    for label, n in enumerate(counts):
        for _ in range(n):
            data.images.append(rng.integers(60, 200, (32, 32), dtype=np.uint8))
            data.masks.append(None)
            data.labels.append(label)
    return data


def test_the_sampler_draws_good_images_at_the_share():
    counts = [60, 10, 5]  # class 0 good
    drawn = {None: [], 0.7: []}
    for share in drawn:
        sampler = BalancedSampler(_split(counts), 3, 0, 32, seed=5, recipe=MASK_SUPERVISED, good_share=share)
        labels = np.array([sampler.data.labels[sampler._draw()] for _ in range(4000)])
        drawn[share] = [(labels == k).mean() for k in range(3)]
    sqrt_good = np.sqrt(60) / np.sqrt(counts).sum()  # 0.55
    assert drawn[None][0] == pytest.approx(sqrt_good, abs=0.03)
    assert drawn[0.7][0] == pytest.approx(0.7, abs=0.03)
    assert drawn[0.7][1] / drawn[0.7][2] == pytest.approx(np.sqrt(2), rel=0.15)


def test_a_share_of_0_is_unset_not_never_good():
    # 0 is how a command asks for the plain sqrt(count) draws when the recipe's default is a share.
    assert class_shares(COUNTS, GOOD, 0.0).tolist() == class_shares(COUNTS, GOOD).tolist()
    check_args(get_args_parser().parse_args(["data", "--out", "o", "--set", "good_share=0"]))


@pytest.mark.parametrize("share", ["-0.1", "1", "1.5"])
def test_a_share_outside_0_to_1_is_refused_before_training(share: str):
    args = get_args_parser().parse_args(["data", "--out", "o", "--set", f"good_share={share}"])
    with pytest.raises(ConfigError, match="good_share"):
        check_args(args)
