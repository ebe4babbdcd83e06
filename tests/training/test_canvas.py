"""How training chooses its canvas from the images, and trains on it: shape, views, augmentation."""

import cv2
import numpy as np
import pytest

from inspector.datasets import scan_dataset
from inspector.errors import ConfigError
from inspector.model.card import ModelCard
from inspector.model.evaluation import score_samples
from inspector.model.loader import load_classifier
from inspector.model.preprocess import place, prepare, resize_to_fit, standardise
from tests.training.conftest import GATE_ARGS
from tests.training.long_parts import long_part, make_long_parts, thin_defect
from training.augment import AugmentConfig, augment_full
from training.canvas import MAX_ASPECT, choose_canvas, shaped_canvas, views_for
from training.config import build_config, with_defaults


@pytest.mark.parametrize("aspect", [1.0, 1.19, 0.84, 1.24])
def test_nearly_square_parts_keep_the_square(aspect):
    """magnetic-tile's train split has a median height/width of 1.19: its recipes stay as they were."""
    assert shaped_canvas(aspect, 320) == (320, 320)


@pytest.mark.parametrize(("aspect", "want"), [(2.5, (512, 192)), (0.4, (192, 512)),
                                              (0.2, (128, 704)), (5.0, (704, 128))])
def test_long_parts_get_a_canvas_along_their_length(aspect, want):
    canvas = shaped_canvas(aspect, 320)
    assert canvas == want
    h, w = canvas
    assert h % 32 == 0 and w % 32 == 0  # whole cells of the decision head
    assert 0.85 <= h * w / 320 ** 2 <= 1.15  # about the square's pixels: a step costs the same


def test_a_very_long_part_is_capped_and_keeps_a_usable_short_side():
    h, w = shaped_canvas(1 / 40, 192)
    assert (h, w) == shaped_canvas(1 / MAX_ASPECT, 192) and h >= 64


def _write(folder, shapes):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate(shapes):
        path = folder / f"{i}.png"
        cv2.imwrite(str(path), np.zeros((h, w), np.uint8))
        paths.append(path)
    return paths


def test_the_canvas_follows_the_median_training_image(tmp_path):
    landscape = _write(tmp_path / "l", [(100, 500)] * 5 + [(500, 100)] * 2)  # a few stand upright
    assert choose_canvas("auto", 192, landscape) == shaped_canvas(0.2, 192) == (96, 416)
    portrait = _write(tmp_path / "p", [(1250, 500)] * 3)
    assert choose_canvas("auto", 320, portrait) == (512, 192)
    assert choose_canvas("square", 320, portrait) == (320, 320)
    assert choose_canvas("96x416", 320, portrait) == (96, 416)
    unreadable = tmp_path / "bad.png"
    unreadable.write_bytes(b"not an image")
    assert choose_canvas("auto", 320, [unreadable]) == (320, 320)


@pytest.mark.parametrize("value", ["wide", "96x", "100x416", "8x8", "96*416"])
def test_a_bad_canvas_setting_is_refused_before_training(value):
    with pytest.raises(ConfigError, match="canvas"):
        build_config(with_defaults("labels-only", {"canvas": value}))


def test_a_shaped_canvas_keeps_only_the_views_that_keep_its_shape():
    assert views_for("identity,hflip,vflip,rot90", (96, 416)) == "identity,hflip,vflip"
    assert views_for("rot90,transpose", (96, 416)) == "identity"
    assert views_for("identity,hflip,vflip,rot90", (320, 320)) == "identity,hflip,vflip,rot90"


def test_full_canvases_of_long_parts_are_never_stood_across_the_canvas():
    """Quarter turns would not fit a shaped canvas: flips and the half turn only, mask alongside."""
    rng = np.random.default_rng(0)
    img = resize_to_fit(long_part(rng), (96, 416))
    mask = np.zeros_like(img)
    mask[10:14, 300:340] = 1
    cfg = AugmentConfig(scale=(1.0, 1.0), noise=0.0)
    for _ in range(20):
        canvas, placed = augment_full(img, mask, (96, 416), rng, cfg)
        assert canvas.shape == placed.shape == (96, 416)
        ys, xs = np.nonzero(placed)
        assert np.ptp(xs) + 1 == 40 and np.ptp(ys) + 1 == 4  # lying along the part, as drawn


def test_a_square_canvas_draws_exactly_as_before():
    """The same random stream on the same square gives the same canvas: rebuilds of square bundles hold."""
    img = resize_to_fit(long_part(np.random.default_rng(1)), 64)
    a, _ = augment_full(img, None, 64, np.random.default_rng(7), AugmentConfig())
    b, _ = augment_full(img, None, (64, 64), np.random.default_rng(7), AugmentConfig())
    np.testing.assert_array_equal(a, b)


def test_the_square_canvas_washes_out_a_hairline_crack_the_shaped_one_keeps():
    """Why long parts need the shaped canvas: a 1 px crack on a 100 x 500 part fitted to a 192 px
    square is a fifth of a pixel wide, so area resizing leaves a fifth of its darkening; on the
    96 x 416 canvas of the same pixel count it is 0.83 px wide and keeps about three times as much
    contrast against the part's own pixel-to-pixel texture (19 vs 60 on these seeds)."""
    rng = np.random.default_rng(4)
    good = long_part(rng)
    cracked = thin_defect(good, np.random.default_rng(5), width=1)

    def contrast(canvas):
        diff = prepare(cracked, canvas)[0] - prepare(good, canvas)[0]
        texture = standardise(resize_to_fit(good, canvas))
        spread = np.abs(np.diff(texture, axis=1)).std()  # neighbouring pixels' usual difference
        return float(np.abs(diff).max() / spread)

    assert place(standardise(resize_to_fit(good, (96, 416))), (96, 416))[1].height == 83
    assert contrast((96, 416)) > 2.5 * contrast(192)


def test_a_good_only_gate_trains_and_scores_on_a_shaped_canvas(tmp_path):
    """The gate's feature bank (windows of feature cells, image descriptors) on a 64 x 288 canvas:
    built in training, read back at serving, defects further from the good parts than good ones."""
    pytest.importorskip("torch")
    from training.train import get_args_parser, main

    data = make_long_parts(tmp_path / "good", ok=30, defect=0, seed=2)
    (data / "defect").rmdir()
    out = tmp_path / "gate"
    main(get_args_parser().parse_args([str(data), "--out", str(out), "--good-only", *GATE_ARGS,
                                       "--set", "input_size=128", "--set", "bank_size=256"]))
    card = ModelCard.load(out)
    assert card.canvas == (64, 288) and card.feature_bank is not None
    held_out = make_long_parts(tmp_path / "new", ok=10, defect=10, seed=98)
    scored = score_samples(load_classifier(out, "onnx", threads=1),
                           scan_dataset(held_out, test_fraction=0.0).samples)
    is_defect = np.array([s.label == "defect" for s in scored.samples])
    assert np.isfinite(scored.defect_scores).all()
    assert scored.defect_scores[is_defect].mean() > scored.defect_scores[~is_defect].mean()
