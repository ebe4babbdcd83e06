"""Re-judging stored scores with new thresholds: counts before/after and the parts that flip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inspector.bundles.rethreshold import rethreshold
from inspector.model.card import Thresholds
from inspector.storage.rescoring import ScoredRow

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def row(i: int, score: float | None, verdict: str, status: str = "ok",
        anomaly: float | None = None) -> ScoredRow:
    return ScoredRow(part_id=f"p{i}", serial=f"s{i}", inspected_at=T0 + timedelta(seconds=i),
                     status=status, verdict=verdict, defect_score=score, anomaly_score=anomaly)


def test_counts_and_flips_of_a_stricter_review_band():
    rows = [row(0, 0.1, "OK"), row(1, 0.45, "OK"), row(2, 0.6, "REVIEW"), row(3, 0.85, "NG"),
            row(4, None, "REVIEW", status="no_frame"), row(5, 0.99, "NG", status="bad_image")]
    report = rethreshold(rows, Thresholds(ng=0.6, review=0.4))
    assert report.parts == 6 and report.judged == 4
    assert report.before == {"OK": 2, "REVIEW": 2, "NG": 2}
    assert report.after == {"OK": 1, "REVIEW": 2, "NG": 3}
    assert [(f.part_id, f.before, f.after) for f in report.flips] == [
        ("p1", "OK", "REVIEW"), ("p2", "REVIEW", "NG")]
    assert report.flips_total == 2


def test_an_anomaly_threshold_sends_unusual_parts_to_review():
    rows = [row(0, 0.1, "OK", anomaly=0.9), row(1, 0.1, "OK", anomaly=0.2)]
    report = rethreshold(rows, Thresholds(ng=0.8, review=0.5, anomaly=0.7))
    assert [(f.part_id, f.after) for f in report.flips] == [("p0", "REVIEW")]


def test_unchanged_thresholds_flip_nothing():
    rows = [row(i, i / 10, "NG" if i >= 8 else "REVIEW" if i >= 5 else "OK") for i in range(10)]
    report = rethreshold(rows, Thresholds(ng=0.8, review=0.5))
    assert report.flips == [] and report.before == report.after
