"""Crops reaching past the image edge (--crop-margin): zero-filled like the canvas padding, masks aligned."""

import numpy as np
import pytest

from inspector.errors import ConfigError
from training.augment import AugmentConfig, augment_crop
from training.options import check_args, get_args_parser

CROP = 32
STILL = AugmentConfig(scale=(1.0, 1.0), gamma=0.0, contrast=0.0, noise=0.0, defect_centre_p=1.0)


def _edge_defect_image() -> tuple[np.ndarray, np.ndarray]:
    """A bright textured image with a 3 x 3 defect touching its left edge."""
    rng = np.random.default_rng(0)
    img = rng.integers(100, 200, (80, 96), dtype=np.uint8)
    mask = np.zeros_like(img)
    mask[40:43, 0:3] = 1
    img[mask > 0] = 10
    return img, mask


def _crops(margin: int, n: int = 200):
    img, mask = _edge_defect_image()
    rng = np.random.default_rng(1)
    cfg = AugmentConfig(**{**STILL.__dict__, "crop_margin": margin})
    return [augment_crop(img, mask, CROP, True, rng, cfg) for _ in range(n)]


def _padding(patch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns that are exactly zero: the padding (a standardised textured image never is)."""
    return np.all(patch == 0.0, axis=1), np.all(patch == 0.0, axis=0)


def test_without_a_margin_crops_stay_inside_the_image():
    for patch, pmask in _crops(0):
        rows, cols = _padding(patch)
        assert not rows.any() and not cols.any()
        assert pmask.sum() == 9  # the whole edge defect is in every crop centred on it


def test_with_a_margin_an_edge_defect_is_seen_against_the_padding():
    crops = _crops(8)
    padded = 0
    for patch, pmask in crops:
        rows, cols = _padding(patch)
        if not (rows.any() or cols.any()):
            continue
        padded += 1
        # (the geometry turns and flips the image: the padded side is whichever the edge went to)
        band = rows if rows.any() else cols
        width = int(band.sum())
        assert 1 <= width <= 8  # never further past the edge than the margin
        assert band[:width].all() or band[-width:].all()  # one band at one side of the crop
        inside = pmask.any(axis=1 if band is rows else 0)
        first = width if band[:width].all() else CROP - width - 1
        assert inside[first]  # the defect touches the image edge, right beside the padding
        assert pmask.sum() == 9  # the mask moved with the image: all of it, nothing else
        assert patch[pmask > 0].max() < patch[(pmask == 0) & (patch != 0)].min()  # on the dark pixels
    assert padded > len(crops) // 4  # the edge defect is often seen past the edge


def test_margin_zero_draws_the_stream_it_always_drew():
    # The mask-supervised and good-only recipes keep margin 0: their crops must not change.
    img, mask = _edge_defect_image()
    a = [augment_crop(img, mask, CROP, True, np.random.default_rng(5), AugmentConfig())[0] for _ in range(3)]
    b = [augment_crop(img, mask, CROP, True, np.random.default_rng(5), AugmentConfig(crop_margin=0))[0]
         for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("margin", ["-1", "64", "100"])
def test_a_margin_of_half_a_crop_or_more_is_refused(margin):
    args = get_args_parser().parse_args(["ds", "--out", "o", "--crop-margin", margin])
    with pytest.raises(ConfigError, match="--crop-margin must lie in"):
        check_args(args)
    check_args(get_args_parser().parse_args(["ds", "--out", "o", "--crop-margin", "32"]))
