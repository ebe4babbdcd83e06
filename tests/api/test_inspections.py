"""GET /inspections (cursor pagination, filters) and GET /inspections/{part_id}."""

from __future__ import annotations

from datetime import timedelta

from inspector.domain import Verdict

from .conftest import T0, inspection


def _seed(store, uid: str, n: int = 25) -> None:
    rows = [inspection(f"{uid}-{i:03d}", f"{uid}-S{i}", T0 + timedelta(seconds=i // 2), uid,
                       Verdict.NG if i % 5 == 0 else Verdict.OK) for i in range(n)]
    store.write(rows)  # pairs share a time: the cursor must still not skip or repeat


def test_pages_walk_every_row_once_newest_first(client, store, uid):
    _seed(store, uid)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"station_id": uid, "limit": 10, **({"cursor": cursor} if cursor else {})}
        response = client.get("/inspections", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        assert body["count"] == len(body["items"]) <= 10
        seen += [r["part_id"] for r in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 25
    times = [client.get(f"/inspections/{p}").json()["inspected_at"] for p in seen]
    assert times == sorted(times, reverse=True)


def test_filters_by_verdict_and_time(client, store, uid):
    _seed(store, uid)
    ng = client.get("/inspections", params={"station_id": uid, "verdict": "NG"}).json()
    assert {r["part_id"] for r in ng["items"]} == {f"{uid}-{i:03d}" for i in range(0, 25, 5)}
    window = client.get("/inspections", params={
        "station_id": uid, "since": "2024-05-01T08:00:02Z", "until": "2024-05-01T08:00:04"}).json()
    assert {r["part_id"] for r in window["items"]} == {f"{uid}-{i:03d}" for i in range(4, 8)}


def test_bad_parameters_are_422_with_a_message(client):
    cases = {"limit=0": "query.limit", "limit=5000": "query.limit", "verdict=MAYBE": "query.verdict",
             "cursor=not-a-cursor": "invalid page cursor", "since=noon": "query.since"}
    for query, message in cases.items():
        response = client.get(f"/inspections?{query}")
        assert response.status_code == 422, query
        assert message in response.json()["detail"], (query, response.json())


def test_one_inspection_by_part_id(client, store, uid):
    store.write([inspection(f"{uid}-p", f"{uid}-S", T0, uid, Verdict.NG, "crack")])
    body = client.get(f"/inspections/{uid}-p").json()
    assert body["serial"] == f"{uid}-S" and body["verdict"] == "NG" and body["scores"] == {
        "crack": 0.9}
    missing = client.get(f"/inspections/{uid}-nope")
    assert missing.status_code == 404 and "no inspection" in missing.json()["detail"]
