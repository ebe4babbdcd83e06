"""Preprocessing: aspect kept, standardised content, serving == training inputs, view inverses."""

import numpy as np
import pytest

from inspector.errors import DatasetError
from inspector.model.preprocess import (
    VIEWS,
    apply_view,
    invert_view,
    place,
    prepare,
    read_image,
    resize_to_fit,
    standardise,
    to_gray,
)


def test_prepare_keeps_aspect_and_centres():
    img = np.full((50, 200), 100, np.uint8)
    img[:, :100] = 200
    canvas, p = prepare(img, 64)
    assert canvas.shape == (64, 64)
    assert (p.height, p.width) == (16, 64)
    assert p.top == 24 and p.left == 0
    content = canvas[p.top:p.top + p.height, p.left:p.left + p.width]
    assert abs(content.mean()) < 1e-4 and abs(content.std() - 1) < 1e-2
    assert np.all(canvas[: p.top] == 0) and np.all(canvas[p.top + p.height:] == 0)


def test_training_path_equals_serving_path():
    """Training caches resize_to_fit then standardise+place: the same numbers as prepare()."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (123, 77), dtype=np.uint8)
    served, _ = prepare(img, 96)
    trained, _ = place(standardise(resize_to_fit(img, 96)), 96)
    np.testing.assert_array_equal(served, trained)


def test_bgr_and_gray_agree():
    rng = np.random.default_rng(2)
    gray = rng.integers(0, 255, (40, 40), dtype=np.uint8)
    bgr = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(to_gray(bgr), gray)


def test_flat_image_does_not_divide_by_zero():
    canvas, _ = prepare(np.full((30, 30), 7, np.uint8), 32)
    assert np.isfinite(canvas).all() and np.all(canvas == 0)


@pytest.mark.parametrize("view", VIEWS)
def test_views_invert(view):
    x = np.arange(2 * 1 * 5 * 5, dtype=np.float32).reshape(2, 1, 5, 5)
    np.testing.assert_array_equal(invert_view(apply_view(x, view), view), x)


def test_the_eight_views_are_the_eight_symmetries_of_the_square():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    seen = {apply_view(x, v).tobytes() for v in VIEWS}
    assert len(seen) == 8
    # the mirrors across both diagonals, as named
    np.testing.assert_array_equal(apply_view(x, "transpose")[0, 0], x[0, 0].T)
    np.testing.assert_array_equal(apply_view(x, "transverse")[0, 0], x[0, 0][::-1, ::-1].T)


def test_read_image_errors(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match="empty"):
        read_image(empty)
    with pytest.raises(DatasetError, match="damaged JPEG data"):
        read_image(corrupt)
    with pytest.raises(DatasetError, match="no such"):
        read_image(tmp_path / "missing.png")
