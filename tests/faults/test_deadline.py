"""Overload at 3x the sustainable rate with a verdict deadline: no late verdict, a row per part."""

from __future__ import annotations

from inspector.domain import Status, Verdict
from inspector.pipeline.records import Routing
from tests.pipeline.fakes import FakeClassifier, FakeSource, FakeStore, gray

INFERENCE_S = 0.03     # one model call: ~33 parts/s sustainable
DEADLINE_S = 0.5
SLACK_S = 0.25         # thread scheduling on two shared cores


def test_overload_gives_late_rows_instead_of_late_verdicts(make_station):
    frames = [gray(40 + i % 100) for i in range(300)]
    source = FakeSource(frames, live=True, pace_s=0.01)  # 100 parts/s for 3 s: 3x the model
    store = FakeStore()
    station = make_station(source, FakeClassifier(delay_s=INFERENCE_S), store=store, settings={
        "batch_max": 1, "deadline_s": DEADLINE_S, "routing": Routing(late=Verdict.NG)})
    station.start()
    assert station.wait(30)
    rows = list(store.rows.values())
    m = station.metrics()
    assert len(rows) == m.triggered == m.parts  # every triggered part has its row
    judged = [r for r in rows if r.status is Status.OK]
    late = [r for r in rows if r.status is Status.LATE]
    assert judged and late, (len(judged), len(late))
    # A verdict from the model never comes later than the deadline plus one model call.
    assert max(r.latency_ms for r in judged) <= (DEADLINE_S + INFERENCE_S + SLACK_S) * 1000
    assert all(r.verdict is Verdict.NG and "deadline" in r.error for r in late)  # late: NG
    assert m.drops.get("late") == len(late)
