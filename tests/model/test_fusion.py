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


def test_with_a_typical_gate_score_the_fused_score_is_the_classifier_own(fusion):
    typical_a = 1 / (1 + np.exp(-fusion.a_mean))
    own = np.array([1e-4, 0.02, 0.5, 0.99])  # NG at 0.5 keeps its meaning
    assert np.allclose(fusion.combine(own, np.full(4, typical_a)), own, rtol=1e-6)


def test_an_unusual_part_is_pushed_up_by_the_gate_spreads(fusion):
    c = 1 / (1 + np.exp(-(fusion.c_mean + 2 * fusion.c_std)))  # two spreads above typical
    a = 1 / (1 + np.exp(-(fusion.a_mean + 2 * fusion.a_std)))
    low_a = 1 / (1 + np.exp(-(fusion.a_mean - 1 * fusion.a_std)))
    # Even weights: the gate's excess in its own spreads adds as many classifier spreads.
    assert _logit(fusion.combine(np.array([c]), np.array([a]))[0]) == pytest.approx(
        fusion.c_mean + 4 * fusion.c_std, abs=1e-6)
    assert _logit(fusion.combine(np.array([c]), np.array([low_a]))[0]) == pytest.approx(
        fusion.c_mean + 1 * fusion.c_std, abs=1e-6)


def test_the_ranking_is_the_even_mean_of_the_standardised_scores(fusion):
    rng = np.random.default_rng(1)
    c, a = rng.uniform(1e-4, 0.999, 50), rng.uniform(1e-3, 0.999, 50)
    z_c, z_a = fusion.standardised(c, a)
    assert (np.argsort(fusion.combine(c, a)) == np.argsort(0.5 * z_c + 0.5 * z_a)).all()


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
    for weight in (0.0, 1.5):
        with pytest.raises(ModelError, match=r"weight must lie in \(0, 1\]"):
            Fusion.from_dict({**fusion.to_dict(), "weight": weight})
    with pytest.raises(ModelError, match="must both be numbers"):
        Fusion.from_dict({**fusion.to_dict(), "classifier_ng": "high"})
    with pytest.raises(ModelError, match="must both be numbers"):
        Fusion.from_dict({**fusion.to_dict(), "classifier_review": None})
    with pytest.raises(ModelError, match="0 <= review <= ng <= 1"):
        Fusion.from_dict({**fusion.to_dict(), "classifier_review": 0.9, "classifier_ng": 0.5})
    with pytest.raises(ModelError, match="JSON object"):
        Fusion.from_dict([1, 2])
    with pytest.raises(ModelError, match="at least two good val images"):
        Fusion.fit(np.array([0.1]), np.array([0.2]))


def test_identical_good_scores_do_not_divide_by_zero():
    same = Fusion.fit(np.full(5, 0.01), np.full(5, 0.1))
    assert same.c_std > 0 and same.a_std > 0
    assert np.isfinite(same.combine(np.array([0.9]), np.array([0.9]))).all()
