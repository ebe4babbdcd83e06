"""Crops reaching past the image edge (--crop-margin): zero-filled like the canvas padding, masks aligned."""

import numpy as np
import pytest

from inspector.errors import ConfigError
from training.augment import AugmentConfig, _crop_origin, augment_crop
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


# Origins the code before --crop-margin drew (training/augment.py at 1e9db3b), seed 7: a crop on
# the edge defect, a random one, and a side shorter than the crop (it hangs over both edges).
BEFORE_THE_OPTION = {
    ((80, 96), True): [(28, 0), (27, 0), (21, 0), (20, 0), (18, 0), (20, 0)],
    ((80, 96), False): [(46, 40), (33, 58), (28, 50), (40, 14), (2, 19), (13, 56)],
    ((20, 96), False): [(0, 40), (-4, 58), (-5, 50), (-2, 14), (-12, 19), (-9, 56)],
}


@pytest.mark.parametrize(("shape", "on_defect"), list(BEFORE_THE_OPTION))
def test_margin_zero_draws_the_origins_it_always_drew(shape, on_defect):
    # The mask-supervised and good-only recipes keep margin 0: their crops must not change.
    mask = np.zeros(shape, dtype=np.uint8)
    mask[min(40, shape[0] - 3):min(43, shape[0]), 0:3] = 1
    rng = np.random.default_rng(7)
    drawn = [_crop_origin(mask, shape, CROP, on_defect, rng, 0) for _ in range(6)]
    assert drawn == BEFORE_THE_OPTION[(shape, on_defect)]


def test_a_side_shorter_than_the_crop_may_slide_the_margin_further():
    # At 0 such a crop already hangs over both edges (the whole side inside it); a margin lets its
    # window slide up to M px further either way, so up to M px of that side may be left out.
    rng = np.random.default_rng(3)
    tops = {_crop_origin(None, (20, 96), CROP, False, rng, 8)[0] for _ in range(400)}
    assert min(tops) == 20 - CROP - 8 and max(tops) == 8
    assert all(t + CROP > 0 and t < 20 for t in tops)  # never a crop without a row of the image


@pytest.mark.parametrize("margin", ["-1", "64", "100"])
def test_a_margin_of_half_a_crop_or_more_is_refused(margin):
    args = get_args_parser().parse_args(["ds", "--out", "o", "--set", f"crop_margin={margin}"])
    with pytest.raises(ConfigError, match="crop_margin 0 or under half the crop"):
        check_args(args)
    check_args(get_args_parser().parse_args(["ds", "--out", "o", "--set", "crop_margin=32"]))
