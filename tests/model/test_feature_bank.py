"""The gate's feature bank in NumPy: nearest distances, content cells, calibration, bad files."""

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.feature_bank import Calibration, FeatureBank, content_cells, nearest_distances
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
