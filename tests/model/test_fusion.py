"""Fusing a classifier's defect score with a gate's anomaly score: calibration and its checks."""

import numpy as np
import pytest

from inspector.errors import ModelError
from inspector.model.fusion import Fusion


def _logit(p):
    return np.log(p) - np.log1p(-p)


@pytest.fixture
def fusion():
    rng = np.random.default_rng(0)
    good_defect = 1 / (1 + np.exp(-rng.normal(-6.0, 1.5, 200)))  # a classifier sure of good parts
    good_anomaly = 1 / (1 + np.exp(-rng.normal(-2.0, 0.5, 200)))  # a gate on another scale
    return Fusion.fit(good_defect, good_anomaly, classifier_ng=0.5, classifier_review=0.2)


def test_calibration_is_the_good_parts_mean_and_spread(fusion):
    assert fusion.c_mean == pytest.approx(-6.0, abs=0.3) and fusion.c_std == pytest.approx(1.5, abs=0.2)
    assert fusion.a_mean == pytest.approx(-2.0, abs=0.1) and fusion.a_std == pytest.approx(0.5, abs=0.1)
    assert fusion.weight == 0.5 and fusion.classifier_review == 0.2


def test_a_typical_good_part_scores_like_one_on_the_classifier_scale(fusion):
    typical_c = 1 / (1 + np.exp(-fusion.c_mean))
    typical_a = 1 / (1 + np.exp(-fusion.a_mean))
    assert fusion.combine(np.array([typical_c]), np.array([typical_a]))[0] == pytest.approx(typical_c)


def test_both_scores_raise_the_fused_score_by_their_standardised_distance(fusion):
    c = 1 / (1 + np.exp(-(fusion.c_mean + 2 * fusion.c_std)))  # two spreads above typical
    a = 1 / (1 + np.exp(-(fusion.a_mean + 2 * fusion.a_std)))
    typical_a = 1 / (1 + np.exp(-fusion.a_mean))
    by_classifier = fusion.combine(np.array([c]), np.array([typical_a]))[0]
    by_both = fusion.combine(np.array([c]), np.array([a]))[0]
    # Even weights: one score 2 spreads up moves the fused z by 1, both together by 2.
    assert _logit(by_classifier) == pytest.approx(fusion.c_mean + fusion.c_std, abs=1e-6)
    assert _logit(by_both) == pytest.approx(fusion.c_mean + 2 * fusion.c_std, abs=1e-6)
    led = fusion.gate_led(np.array([c, 1 / (1 + np.exp(-fusion.c_mean))]), np.array([typical_a, a]))
    assert led.tolist() == [False, True]


def test_weight_one_is_the_classifier_alone(fusion):
    alone = Fusion(fusion.c_mean, fusion.c_std, fusion.a_mean, fusion.a_std, weight=1.0)
    defect = np.array([1e-4, 0.3, 0.97])
    assert np.allclose(alone.combine(defect, np.array([0.9, 0.01, 0.5])), defect, atol=1e-9)


def test_round_trip_and_bad_calibrations(fusion):
    assert Fusion.from_dict(fusion.to_dict()) == fusion
    with pytest.raises(ModelError, match="unknown fields: extra"):
        Fusion.from_dict({**fusion.to_dict(), "extra": 1})
    with pytest.raises(ModelError, match="malformed"):
        Fusion.from_dict({"c_mean": 0.0})
    with pytest.raises(ModelError, match="spreads must be positive"):
        Fusion.from_dict({**fusion.to_dict(), "a_std": 0.0})
    with pytest.raises(ModelError, match="non-finite"):
        Fusion.from_dict({**fusion.to_dict(), "c_mean": float("nan")})
    with pytest.raises(ModelError, match=r"weight must lie in \[0, 1\]"):
        Fusion.from_dict({**fusion.to_dict(), "weight": 1.5})
    with pytest.raises(ModelError, match="JSON object"):
        Fusion.from_dict([1, 2])
    with pytest.raises(ModelError, match="at least two good val images"):
        Fusion.fit(np.array([0.1]), np.array([0.2]))


def test_identical_good_scores_do_not_divide_by_zero():
    same = Fusion.fit(np.full(5, 0.01), np.full(5, 0.1))
    assert same.c_std > 0 and same.a_std > 0
    assert np.isfinite(same.combine(np.array([0.9]), np.array([0.9]))).all()
