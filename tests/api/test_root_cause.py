"""GET /root-cause: the planted cause ranks first; too few parts say so; bad windows are 422."""

from __future__ import annotations

from datetime import datetime, timedelta

from inspector.trace.simulate import LineSpec, PlantedCause, simulate, to_inspection

from .conftest import T0, inspection


def _window(uid: str) -> tuple[datetime, dict]:
    """A time window of this test's own: the PostgreSQL database is shared and kept."""
    start = T0.replace(year=2100) + timedelta(days=int(uid, 16) % 900_000)
    return start, {"since": start.isoformat(), "until": (start + timedelta(days=1)).isoformat()}


def _load(store, events, spec: LineSpec) -> None:
    parts = list(simulate(spec))
    events.insert([e for p in parts for e in p.events])
    store.write([to_inspection(p, spec.station_id) for p in parts])


def test_the_planted_cause_ranks_first(client, store, events, uid):
    start, window = _window(uid)
    spec = LineSpec(parts=2_000, seed=4, start=start, serial_prefix=f"R{uid}", station_id=uid)
    _load(store, events, spec)
    naive_until = (start + timedelta(days=1)).replace(tzinfo=None).isoformat()  # naive = UTC
    response = client.get("/root-cause", params={"since": window["since"], "until": naive_until})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["parts"] == 2_000
    assert body["ranked"][0]["name"] in PlantedCause().names
    assert body["ranked"][0]["significant"] and body["ranked"][0]["bins"]
    assert body["until"].startswith(naive_until)
    crack = client.get("/root-cause", params={**window, "defect_class": "crack"}).json()
    assert crack["defect_class"] == "crack" and crack["ranked"][0]["name"] in PlantedCause().names


def test_too_few_parts_say_so_instead_of_ranking(client, store, uid):
    start, window = _window(uid)
    store.write([inspection(f"{uid}-{i}", f"{uid}-{i}", start + timedelta(minutes=i), uid)
                 for i in range(5)])
    body = client.get("/root-cause", params=window).json()
    assert body["status"] == "insufficient_data" and body["parts"] == 5
    assert body["ranked"] == [] and "insufficient data" in body["message"]


def test_a_window_that_ends_before_it_starts_is_422(client):
    response = client.get("/root-cause", params={"since": "2024-05-02T00:00:00Z",
                                                 "until": "2024-05-01T00:00:00Z"})
    assert response.status_code == 422
    assert "must be after" in response.json()["detail"]
    response = client.get("/root-cause", params={"since": "yesterday"})
    assert response.status_code == 422 and "query.since" in response.json()["detail"]


def test_an_empty_window_and_an_unknown_class_are_422_with_the_reason(client, store, events, uid):
    start, window = _window(uid)
    spec = LineSpec(parts=300, seed=6, start=start, serial_prefix=f"E{uid}", station_id=uid)
    _load(store, events, spec)
    before = {"since": (start - timedelta(days=3)).isoformat(),
              "until": (start - timedelta(days=2)).isoformat()}
    response = client.get("/root-cause", params=before)
    assert response.status_code == 422
    assert "found 0 parts; the history spans" in response.json()["detail"]
    response = client.get("/root-cause", params={**window, "defect_class": "crak"})
    assert response.status_code == 422
    assert "unknown defect class 'crak' (did you mean 'crack'?)" in response.json()["detail"]


def test_findings_carry_their_group_and_a_sentence(client, store, events, uid):
    start, window = _window(uid)
    spec = LineSpec(parts=2_000, seed=4, start=start, serial_prefix=f"W{uid}", station_id=uid)
    _load(store, events, spec)
    body = client.get("/root-cause", params={**window, "defect_class": "crack"}).json()
    top = body["ranked"][0]
    assert top["group_parts"] > 0 and top["conditions"] and top["risk_ratio"] > 1
    assert top["advice"].startswith("Parts ") and ": check " in top["advice"]
    assert body["combinations_tested"] > 0 and body["correction"] == "holm"
