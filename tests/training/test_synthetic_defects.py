"""Synthetic defects: the mask is exactly the altered pixels, seeded, inside the tile region only."""

import numpy as np
import pytest

from tests.synthetic import tile
from training.synthetic_defects import KINDS, MIXES, synthesize


@pytest.fixture
def image():
    return tile(np.random.default_rng(1), 120, 160)


@pytest.mark.parametrize("kind", KINDS)
def test_mask_is_exactly_the_altered_pixels(image, kind):
    drawn = 0
    for seed in range(12):
        out, mask = synthesize(image, np.random.default_rng(seed), kind)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
        np.testing.assert_array_equal(mask > 0, out != image)
        drawn += int(mask.any())
    assert drawn >= 10  # almost every draw leaves a visible defect


def test_random_kind_is_seeded_and_deterministic(image):
    a = synthesize(image, np.random.default_rng(7))
    b = synthesize(image, np.random.default_rng(7))
    c = synthesize(image, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_input_is_left_untouched(image):
    before = image.copy()
    synthesize(image, np.random.default_rng(0), "patch")
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize("kind", KINDS)
def test_nothing_changes_outside_the_tile_region(kind):
    rng = np.random.default_rng(3)
    canvas = np.zeros((100, 100), np.uint8)
    canvas[20:80, 10:90] = tile(rng, 60, 80)
    valid = np.zeros_like(canvas, dtype=bool)
    valid[20:80, 10:90] = True
    for seed in range(6):
        out, mask = synthesize(canvas, np.random.default_rng(seed), kind, valid=valid)
        assert not mask[~valid].any()
        np.testing.assert_array_equal(out[~valid], canvas[~valid])
        np.testing.assert_array_equal(mask > 0, out != canvas)


def test_bad_arguments(image):
    with pytest.raises(ValueError, match="unknown synthetic defect"):
        synthesize(image, np.random.default_rng(0), "dent")
    with pytest.raises(ValueError, match="uint8 gray"):
        synthesize(image.astype(np.float32), np.random.default_rng(0))


@pytest.mark.parametrize("mix", ["v1", "steps"])
def test_older_mixes_draw_what_they_drew_before_new_kinds_existed(image, mix):
    # Bundles trained before a kind was added must be rebuilt by their recorded commands: a
    # mix's draw equals the one over its own kinds only (kind first, then the drawing, one rng).
    used = int(np.flatnonzero(MIXES[mix])[-1]) + 1
    assert used < len(KINDS)
    old_p = np.array(MIXES[mix][:used])
    for seed in range(20):
        rng = np.random.default_rng(seed)
        old_kind = str(rng.choice(KINDS[:used], p=old_p))
        want_image, want_mask = synthesize(image, rng, old_kind)
        got_image, got_mask = synthesize(image, np.random.default_rng(seed), kind_p=MIXES[mix])
        np.testing.assert_array_equal(got_image, want_image)
        np.testing.assert_array_equal(got_mask, want_mask)


def test_steps_mix_draws_stepped_surfaces_from_the_edges(image):
    kinds = [str(np.random.default_rng(s).choice(KINDS, p=MIXES["steps"])) for s in range(400)]
    assert 0.08 < kinds.count("step") / len(kinds) < 0.25
    at_edge = 0
    for seed in range(20):
        _, mask = synthesize(image, np.random.default_rng(seed), "step")
        assert mask.mean() > 0.01  # a large region, not a line
        at_edge += int(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
    assert at_edge >= 10  # mostly bands reaching in from an edge, as real steps are


@pytest.mark.parametrize("kind", ["pit", "edge_crack"])
def test_edge_kinds_are_small_and_mostly_at_the_edge(image, kind):
    near_edge = 0
    for seed in range(20):
        _, mask = synthesize(image, np.random.default_rng(seed), kind)
        assert mask.mean() < 0.02  # a small defect, not a region
        ys, xs = np.nonzero(mask)
        if len(ys):
            gap = min(ys.min(), xs.min(), image.shape[0] - 1 - ys.max(), image.shape[1] - 1 - xs.max())
            near_edge += int(gap <= 0.05 * min(image.shape))
    assert near_edge >= 12
