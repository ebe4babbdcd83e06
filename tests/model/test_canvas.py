"""A non-square canvas at serving: placement, heatmaps back on the image, and what the card says."""

import json

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.card import ModelCard
from inspector.model.preprocess import (
    SHAPE_KEEPING_VIEWS,
    apply_view,
    fit_size,
    invert_view,
    place,
    prepare,
    prepare_batch,
    resize_to_fit,
    standardise,
)
from inspector.model.runtime import heatmap_for

CANVAS = (64, 256)  # height x width: a landscape canvas for long parts


def test_a_long_part_fills_the_shaped_canvas_and_is_centred():
    img = np.random.default_rng(0).integers(0, 255, (100, 500), dtype=np.uint8)
    canvas, p = prepare(img, CANVAS)
    assert canvas.shape == CANVAS
    # 256 / 500 against 64 / 100: the width binds; on a 128 px square (same pixel count) the part
    # would be 26 x 128, half as large each way
    assert (p.height, p.width) == (51, 256) and (p.top, p.left) == (6, 0)
    assert fit_size(100, 500, 128) == (26, 128)
    assert np.all(canvas[:p.top] == 0) and np.all(canvas[p.top + p.height:] == 0)


def test_a_part_across_the_canvas_is_fitted_smaller_not_squashed():
    """A portrait image on a landscape canvas keeps its aspect ratio (it is not rotated either)."""
    _, p = prepare(np.full((300, 100), 50, np.uint8), CANVAS)
    assert (p.height, p.width) == (64, 21)
    assert p.left == (256 - 21) // 2


def test_square_canvases_are_unchanged_whether_given_as_a_side_or_a_shape():
    rng = np.random.default_rng(1)
    for shape in ((123, 77), (77, 123), (64, 64), (500, 100)):
        img = rng.integers(0, 255, shape, dtype=np.uint8)
        a, pa = prepare(img, 96)
        b, pb = prepare(img, (96, 96))
        np.testing.assert_array_equal(a, b)
        assert pa == pb


def test_training_path_equals_serving_path_on_a_shaped_canvas():
    img = np.random.default_rng(2).integers(0, 255, (90, 410), dtype=np.uint8)
    served, _ = prepare(img, CANVAS)
    trained, _ = place(standardise(resize_to_fit(img, CANVAS)), CANVAS)
    np.testing.assert_array_equal(served, trained)


def test_a_heatmap_comes_back_onto_the_image_where_the_defect_is():
    """A defect-map cell (stride 8) on the canvas maps back to the same place on the 100 x 500 image."""
    img = np.zeros((100, 500), np.uint8)
    _, p = prepare(img, CANVAS)
    y, x = 40, 420  # a defect on the image
    scale = p.width / img.shape[1]
    cy, cx = p.top + y * scale, p.left + x * scale
    dmap = np.zeros((CANVAS[0] // 8, CANVAS[1] // 8), np.float32)
    dmap[int(cy // 8), int(cx // 8)] = 1.0
    heat = heatmap_for(dmap, p, CANVAS, img.shape)
    assert heat.shape == img.shape
    py, px = np.unravel_index(int(np.argmax(heat)), heat.shape)
    assert abs(py - y) <= 16 and abs(px - x) <= 16  # one map cell is 8 canvas px, ~16 image px


@pytest.mark.parametrize("view", SHAPE_KEEPING_VIEWS)
def test_the_views_a_shaped_canvas_runs_keep_its_shape_and_invert(view):
    batch, _ = prepare_batch([np.random.default_rng(3).integers(0, 255, (50, 200), dtype=np.uint8)],
                             CANVAS)
    turned = apply_view(batch, view)
    assert turned.shape == batch.shape
    np.testing.assert_array_equal(invert_view(turned, view), batch)


def _card(**changes) -> dict:
    raw = {"name": "m", "arch": "segdec", "classes": ["defect", "ok"], "good_classes": ["ok"],
           "input_size": 320, "thresholds": {"ng": 0.5, "review": 0.3}}
    return {**raw, **changes}


def test_a_card_without_input_shape_is_square_and_stays_without_it():
    card = ModelCard.from_dict(_card())
    assert card.input_shape is None and card.canvas == (320, 320)
    assert "input_shape" not in json.loads(card.to_json())  # readable by an Inspector before the field


def test_a_shaped_card_round_trips(tmp_path):
    card = ModelCard.from_dict(_card(input_shape=[192, 512], tta_views=["identity", "hflip", "rot180"]))
    card.save(tmp_path)
    again = ModelCard.load(tmp_path)
    assert again.canvas == (192, 512) and again.input_shape == [192, 512]


def test_a_shaped_card_refuses_views_that_would_turn_its_canvas():
    with pytest.raises(ModelError, match="rot90 do not keep its shape"):
        ModelCard.from_dict(_card(input_shape=[192, 512], tta_views=["identity", "rot90"]))


@pytest.mark.parametrize("shape", [[192], [192, 8], [192.0, 512], "192x512"])
def test_a_malformed_input_shape_is_a_model_error(shape):
    with pytest.raises(ModelError, match="input_shape"):
        ModelCard.from_dict(_card(input_shape=shape))
