"""The image-quality gate refuses blank, badly exposed, blurred, tiny and damaged frames only."""

import cv2
import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.card import ModelCard, Thresholds
from inspector.model.decode import decode_file
from inspector.model.quality import ImageStats, QualityGate, QualityProfile, fit_profile
from tests.conftest import SAMPLE

REAL = [decode_file(p) for p in sorted(SAMPLE.glob("images/*/*.jpg"))]


@pytest.fixture(scope="module")
def gate() -> QualityGate:
    return QualityGate(fit_profile(REAL))


def test_every_real_sample_image_passes_the_learnt_and_the_generic_limits(gate):
    assert [gate.check(img) for img in REAL] == [None] * len(REAL)
    assert [QualityGate().check(img) for img in REAL] == [None] * len(REAL)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda t: np.zeros_like(t), "blank"),
    (lambda t: np.full_like(t, 255), "blank"),
    (lambda t: np.full_like(t, 128), "blank"),
    (lambda t: (t * 0.1).astype(np.uint8), "blank|under-exposed"),
    (lambda t: cv2.GaussianBlur(t, (0, 0), 3), "out of focus"),
    (lambda t: np.zeros((1, 1), np.uint8), "too small"),
    (lambda t: t[:, :3], "too small|wrong shape"),
    (lambda t: np.vstack([t, np.full((t.shape[0], t.shape[1]), 128, np.uint8)]), "damaged|wrong shape"),
    (lambda t: np.where(t > 90, 255, 0).astype(np.uint8), "clipped|out of focus|exposed"),
])
def test_broken_camera_frames_are_refused_with_their_reason(gate, make, reason):
    problem = gate.check(make(REAL[0]))
    assert problem is not None
    assert any(word in problem for word in reason.split("|")), problem


def test_generic_limits_catch_what_no_camera_image_looks_like():
    generic = QualityGate()
    assert "blank" in generic.check(np.full((480, 640, 3), 7, np.uint8))
    assert "too small" in generic.check(np.zeros((1, 1), np.uint8))
    assert generic.check(np.zeros((0, 0), np.uint8)) == "no pixels"


def test_profile_round_trips_through_the_card_and_refuses_unknown_keys():
    profile = fit_profile(REAL)
    assert QualityProfile.from_dict(profile.to_dict()) == profile and profile.fitted_on == len(REAL)
    with pytest.raises(ModelError, match="unknown keys"):
        QualityProfile.from_dict({"min_std": 1.0, "typo": 2})
    card = ModelCard(name="x", arch="a", classes=["ok", "bad"], good_classes=["ok"], input_size=32,
                     thresholds=Thresholds(ng=0.5, review=0.4), quality=profile.to_dict())
    assert card.quality_profile == profile


def test_a_part_on_a_plain_background_is_not_a_torn_frame(gate):
    tile = REAL[0] if REAL[0].ndim == 2 else cv2.cvtColor(REAL[0], cv2.COLOR_BGR2GRAY)
    h, w = tile.shape
    framed = np.full((h * 2, w * 2), 90, np.uint8)
    framed[h // 2:h // 2 + h, w // 2:w // 2 + w] = tile  # flat margins on every side
    assert QualityGate().check(framed) is None
    assert gate.check(framed) is None
    torn = framed.copy()
    torn[h // 2 + h // 4:] = 128  # the transfer stopped part way: a fill to the bottom
    assert "torn" in gate.check(torn)


@pytest.mark.parametrize(("top", "bottom"), [(0, 0), (3, 0), (0, 7), (8, 9), (37, 100), (5, 250)])
def test_image_stats_are_the_plain_definitions_whatever_the_flat_bands(top, bottom):
    rng = np.random.default_rng(top * 1000 + bottom)
    image = rng.integers(0, 256, (300, 200), dtype=np.uint8)
    image[:top] = 60
    image[image.shape[0] - bottom:] = 0
    image[top + 1:top + 3, :50] = 255  # some clipped pixels, in the textured rows
    stats = ImageStats.of(image)
    assert stats.mean == pytest.approx(image.mean(), rel=1e-12)
    assert stats.std == pytest.approx(image.std(), rel=1e-12)
    assert stats.clipped == pytest.approx(((image <= 2) | (image >= 253)).mean(), rel=1e-12)
    laplacian = cv2.Laplacian(image.astype(np.float32), cv2.CV_32F)
    assert stats.sharpness == pytest.approx(laplacian.var(), rel=1e-5)
    flat = image.std(axis=1) < 1.0
    assert stats.flat == max(0, bottom - top) / len(flat) == (
        max(0, int(np.argmin(flat[::-1])) - int(np.argmin(flat))) / len(flat))
    assert ImageStats.of(np.full((40, 30), 9, np.uint8)).flat == 1.0


def test_image_stats_of_colour_crops_reversed_views_and_rows_near_flat():
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (800, 1000, 3), dtype=np.uint8)
    crop = frame[50:750, 40:940]  # 700 x 900 BGR, a view: resized to the analysis size
    crop[-120:] = 77
    near = np.full((60, 300), 100, np.uint8)
    near[:, ::2] = 101     # std 0.5: flat
    near[:30, ::2] = 102   # std 1.0: not flat (the limit is below 1.0)
    for image in (crop, crop[::-1, ::-1], near, near[::-1]):
        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)
        stats = ImageStats.of(image)
        assert stats.mean == pytest.approx(gray.mean(), rel=1e-12)
        assert stats.std == pytest.approx(gray.std(), rel=1e-12)
        assert stats.clipped == ((gray <= 2) | (gray >= 253)).mean()
        flat = gray.std(axis=1) < 1.0
        expected = max(0, int(np.argmin(flat[::-1])) - int(np.argmin(flat))) / len(flat)
        assert stats.flat == expected
    assert ImageStats.of(crop).flat == 120 / 700
    assert ImageStats.of(near).flat == 30 / 60 and ImageStats.of(near[::-1]).flat == 0.0
