"""Verdict thresholds: NG at or above ng, REVIEW in the band or when anomalous, else OK."""

import pytest

from inspector.domain import Verdict
from inspector.errors import ModelError
from inspector.model.card import Thresholds
from inspector.model.verdict import decide


@pytest.mark.parametrize(("score", "expected"), [
    (0.0, Verdict.OK), (0.099, Verdict.OK), (0.1, Verdict.REVIEW), (0.49, Verdict.REVIEW),
    (0.5, Verdict.NG), (1.0, Verdict.NG),
])
def test_bands(score, expected):
    assert decide(score, Thresholds(ng=0.5, review=0.1)) is expected


def test_anomalous_part_is_never_ok():
    th = Thresholds(ng=0.5, review=0.1, anomaly=0.7)
    assert decide(0.01, th, anomaly_score=0.8) is Verdict.REVIEW
    assert decide(0.01, th, anomaly_score=0.2) is Verdict.OK
    assert decide(0.9, th, anomaly_score=0.0) is Verdict.NG


def test_inconsistent_thresholds_rejected():
    with pytest.raises(ModelError, match="review <= ng"):
        Thresholds(ng=0.2, review=0.4)


@pytest.mark.parametrize(("own", "expected"), [
    (0.2, Verdict.REVIEW),   # flagged by the fused score, the classifier alone would not say NG
    (0.6, Verdict.NG), (0.7, Verdict.NG),  # the classifier says NG by itself too
])
def test_fused_ng_needs_the_classifiers_own_word(own, expected):
    th = Thresholds(ng=0.8, review=0.8)
    assert decide(0.9, th, own_score=own, own_ng=0.6) is expected
    assert decide(0.9, th) is Verdict.NG  # no own threshold (no gate fused): the score alone decides
    assert decide(0.5, th, own_score=own, own_ng=0.6) is Verdict.OK  # unflagged stays OK either way
    assert decide(0.5, Thresholds(ng=0.8, review=0.4), own_score=own, own_ng=0.6) is Verdict.REVIEW
