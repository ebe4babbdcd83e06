"""The gate's feature bank in NumPy: nearest distances, content cells, calibration, bad files."""

from dataclasses import asdict

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.feature_bank import (
    Calibration,
    FeatureBank,
    ImageBank,
    content_cells,
    image_bank_path,
    image_descriptor,
    nearest_distances,
    pooled_cells,
)
from inspector.model.preprocess import Placement


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(5000, 6)).astype(np.float32)  # more rows than one distance block
    patches = rng.normal(size=(7, 6)).astype(np.float32)
    want = np.sqrt(((patches[:, None, :] - bank[None]) ** 2).sum(-1)).min(1)
    assert np.allclose(nearest_distances(patches, bank), want, atol=1e-3)
    assert np.allclose(nearest_distances(bank[:3], bank), 0.0, atol=1e-3)


def test_content_cells_leave_out_padding_and_border():
    # A 320 canvas holding a 160 x 320 image at rows 80..240: feature rows 11..28, columns 1..38.
    rows, cols = content_cells(Placement(80, 0, 160, 320), (40, 40))
    assert (rows.start, rows.stop, cols.start, cols.stop) == (11, 29, 1, 39)
    tiny = content_cells(Placement(150, 0, 10, 320), (40, 40))  # a sliver still gets a cell
    assert tiny[0].stop > tiny[0].start


def test_an_unusual_patch_raises_the_score_and_lights_its_cell():
    rng = np.random.default_rng(1)
    good = rng.normal(size=(400, 4)).astype(np.float32)
    bank = FeatureBank(good, None, top_k=1)
    features = good[:16 * 16].T.reshape(1, 4, 16, 16).copy()
    clean, _ = bank.distances(features, [Placement(0, 0, 128, 128)])
    features[0, :, 7, 9] = 25.0
    odd, maps = bank.distances(features, [Placement(0, 0, 128, 128)])
    assert clean[0] == pytest.approx(0.0, abs=1e-2) and odd[0] > 40
    assert np.unravel_index(np.argmax(maps[0, 0]), maps.shape[2:]) == (7, 9)


def test_calibration_puts_typical_good_parts_low_and_outliers_high():
    rng = np.random.default_rng(2)
    p, d = rng.uniform(0.01, 0.1, 200), rng.uniform(1.0, 2.0, 200)
    cal = Calibration.fit(p, d, p_weight=0.5)
    typical = cal.combine(np.array([0.03]), np.array([1.4]))[0]
    outlier = cal.combine(np.array([0.9]), np.array([6.0]))[0]
    assert typical < 0.3 < 0.9 < outlier <= 1.0
    # By default the score is the distance alone: p(anomaly) does not move it.
    alone = Calibration.fit(p, d)
    far = np.array([3.0])
    assert alone.combine(np.array([0.01]), far) == alone.combine(np.array([0.99]), far)
    with pytest.raises(ModelError, match="p_weight"):
        Calibration.fit(p, d, p_weight=1.5)


def test_missing_or_corrupt_bank_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match=r"bank\.npy is missing"):
        FeatureBank.load(tmp_path / "bank.npy", {})
    (tmp_path / "bank.npy").write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="corrupt"):
        FeatureBank.load(tmp_path / "bank.npy", {})
    np.save(tmp_path / "bank.npy", np.zeros((3, 2), np.float16))
    with pytest.raises(ModelError, match="malformed"):
        FeatureBank.load(tmp_path / "bank.npy", {"calibration": {"p_mean": 0}})


def test_pooled_cells_average_every_window_that_fits():
    rng = np.random.default_rng(3)
    cells = rng.normal(size=(2, 7, 5)).astype(np.float32)
    pooled = pooled_cells(cells, 3)
    assert pooled.shape == (2, 5, 3)
    assert np.allclose(pooled[:, 2, 1], cells[:, 2:5, 1:4].mean(axis=(1, 2)), atol=1e-5)
    assert pooled_cells(cells, 9).shape == (2, 3, 1)  # a narrow image: 5 x 5 windows instead
    assert np.array_equal(pooled_cells(cells, 1), cells)


def test_image_bank_flags_a_soft_change_that_no_window_shows():
    rng = np.random.default_rng(4)
    good = [rng.normal(size=(4, 12, 12)).astype(np.float32) for _ in range(30)]
    windows = np.concatenate([pooled_cells(g, 3).reshape(4, -1).T for g in good])
    images = ImageBank.fit(np.stack([image_descriptor(g) for g in good]))
    bank = FeatureBank(windows, None, top_k=3, pool=3, images=images)
    place = [Placement(0, 0, 96, 96)]  # 12 x 12 cells; the border ring is left out
    typical = rng.normal(size=(1, 4, 12, 12)).astype(np.float32)
    flat = typical * 0.25  # the same texture at a quarter of the contrast: an `uneven`-like part
    a, b = bank.score_parts(typical, place), bank.score_parts(flat, place)
    assert b["image_distance"][0] > 3 * a["image_distance"][0]
    assert b["feature_distance"][0] < 1.5 * a["feature_distance"][0]


def test_calibration_with_the_image_distance(tmp_path):
    rng = np.random.default_rng(5)
    p, d, g = rng.uniform(0.01, 0.1, 100), rng.uniform(1.0, 2.0, 100), rng.uniform(3.0, 4.0, 100)
    cal = Calibration.fit(p, d, image_distance=g)
    usual = cal.combine(np.array([0.05]), np.array([1.4]), np.array([3.4]))[0]
    far_image = cal.combine(np.array([0.05]), np.array([1.4]), np.array([40.0]))[0]
    assert usual < 0.3 < 0.9 < far_image
    with pytest.raises(ModelError, match="image distance"):
        cal.combine(np.array([0.05]), np.array([1.4]))


def test_image_bank_round_trip_and_bad_files(tmp_path):
    rng = np.random.default_rng(6)
    images = ImageBank.fit(rng.normal(size=(10, 8)))
    bank = FeatureBank(rng.normal(size=(20, 4)).astype(np.float32), None, pool=3, images=images)
    bank.save(tmp_path / "bank.npy")
    assert (tmp_path / "image_bank.npz").is_file()
    loaded = FeatureBank.load(tmp_path / "bank.npy", bank.config())
    assert loaded.pool == 3 and np.allclose(loaded.images.mean, images.mean)
    probe = rng.normal(size=(3, 8))
    assert np.allclose(loaded.images.distances(probe), images.distances(probe), atol=1e-2)
    whole = (tmp_path / "image_bank.npz").read_bytes()
    for damaged in (b"junk", whole[: len(whole) // 2], whole[:-30]):  # not a zip, cut short
        (tmp_path / "image_bank.npz").write_bytes(damaged)
        with pytest.raises(ModelError, match=r"image_bank\.npz is corrupt"):
            FeatureBank.load(tmp_path / "bank.npy", bank.config())
    (tmp_path / "image_bank.npz").unlink()
    with pytest.raises(ModelError, match=r"image_bank\.npz is missing"):
        FeatureBank.load(tmp_path / "bank.npy", bank.config())
    bank.save(tmp_path / "bank.npy")
    uncalibrated_images = {**bank.config(), "calibration": asdict(Calibration(0, 1, 0, 1))}
    with pytest.raises(ModelError, match="disagree"):
        FeatureBank.load(tmp_path / "bank.npy", uncalibrated_images)
    np.savez(tmp_path / "image_bank.npz", descriptors=np.zeros((3, 8)), mean=np.zeros(5), std=np.ones(5))
    with pytest.raises(ModelError, match="inconsistent"):
        FeatureBank.load(tmp_path / "bank.npy", bank.config())
    assert image_bank_path(tmp_path / "anomaly_bank.npy").name == "anomaly_image_bank.npz"


def test_a_window_distance_is_drawn_at_its_centre_cell():
    bank = FeatureBank(np.zeros((1, 4), np.float32), None, top_k=1, pool=3)
    odd = np.zeros((1, 4, 16, 16), np.float32)
    odd[0, :, 7:10, 4:7] = 30.0  # exactly fills the window centred on cell (8, 5)
    _, maps = bank.distances(odd, [Placement(0, 0, 128, 128)])
    assert np.unravel_index(np.argmax(maps[0, 0]), maps.shape[2:]) == (8, 5)
    assert maps[0, 0, 8, 5] == pytest.approx(60.0, rel=1e-4)  # |(30, 30, 30, 30)|
    assert maps[0, 0, 8, 6] == pytest.approx(40.0, rel=1e-4)  # two thirds of the window
    assert maps[0, 0, 1].max() == 0 and maps[0, 0, :, 14].max() == 0  # no window centres there
