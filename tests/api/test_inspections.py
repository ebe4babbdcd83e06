"""GET /inspections (cursor pagination, filters), /inspections.csv and /inspections/{part_id}."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import timedelta

import pytest

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


# --- filters (serial, label, model version, review state) and the CSV export -----------------

GARBAGE = {
    "since": ["noon", "2024-13-45T00:00:00Z", "0001-01-01T00:00:00+01:00"],
    "until": ["yesterday", "9999-12-31T23:59:59-05:00"],
    "station_id": ["", "a\x00b", "x" * 65],
    "serial": ["", "S\x00", "x" * 129],
    "verdict": ["MAYBE", "ok "],
    "label": ["\x1b[31mred", "x" * 65],
    "model_version": ["v\x7f", "x" * 129],
    "review": ["maybe", "REVIEWED1"],
}


def _varied(store, uid: str) -> list[str]:
    """12 parts: two serials, two labels, two model versions; parts 0-2 reviewed."""
    rows = []
    for i in range(12):
        verdict = (Verdict.OK, Verdict.REVIEW, Verdict.NG)[i % 3]
        row = inspection(f"{uid}-{i:02d}", f"{uid}-S{i % 2}", T0 + timedelta(minutes=i), uid,
                         verdict, "crack" if i % 4 == 0 else "good")
        rows.append(replace(row, model_version="m-2" if i >= 6 else "m-1"))
    store.write(rows)
    for i in range(3):
        assert store.set_review_label(f"{uid}-{i:02d}", "good")
    return [r.part_id for r in rows]


def _ids(client, path: str = "/inspections", **params) -> set[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    if path.endswith(".csv"):
        return {line["part_id"] for line in csv.DictReader(io.StringIO(response.text))}
    return {r["part_id"] for r in response.json()["items"]}


@pytest.mark.parametrize("path", ["/inspections", "/inspections.csv"])
def test_every_filter_narrows_the_rows(client, store, uid, path):
    ids = _varied(store, uid)
    base = {"station_id": uid}
    assert _ids(client, path, **base) == set(ids)
    assert _ids(client, path, **base, serial=f"{uid}-S1") == set(ids[1::2])
    assert _ids(client, path, **base, label="crack") == {ids[0], ids[4], ids[8]}
    assert _ids(client, path, **base, model_version="m-2") == set(ids[6:])
    assert _ids(client, path, **base, review="reviewed") == set(ids[:3])
    assert _ids(client, path, **base, review="unreviewed") == set(ids[3:])
    assert _ids(client, path, **base, verdict="NG", model_version="m-1") == {ids[2], ids[5]}
    window = {"since": "2024-05-01T08:02:00Z", "until": "2024-05-01T10:05:00+02:00"}
    assert _ids(client, path, **base, **window) == set(ids[2:5])
    assert _ids(client, path, station_id=f"{uid}-other") == set()


def test_filters_keep_cursor_pages_whole(client, store, uid):
    ids = _varied(store, uid)
    seen, cursor = [], None
    while True:
        params = {"station_id": uid, "review": "unreviewed", "limit": 4}
        body = client.get("/inspections", params={**params, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["part_id"] for r in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == sorted(ids[3:], reverse=True)  # newest first, none twice, none missed


@pytest.mark.parametrize("path", ["/inspections", "/inspections.csv"])
def test_garbage_in_every_filter_is_422_with_a_message_and_changes_nothing(client, store, uid, path):
    _varied(store, uid)
    before = store.counts(station_id=uid)
    for name, values in GARBAGE.items():
        for value in values:
            response = client.get(path, params={name: value})
            assert response.status_code == 422, (name, value, response.text)
            detail = response.json()["detail"]
            assert isinstance(detail, str) and (name in detail or "since" in detail), (name, detail)
    backwards = client.get(path, params={"since": "2024-05-02T00:00:00Z", "until": "2024-05-01"})
    assert backwards.status_code == 422 and "must be after" in backwards.json()["detail"]
    assert store.counts(station_id=uid) == before


def test_csv_export_streams_a_header_and_every_row(client, store, uid):
    rows = [replace(inspection(f"{uid}-{i:04d}", f"=cmd|{i}" if i == 7 else f"{uid}-S{i}",
                               T0 + timedelta(seconds=i), uid, Verdict.NG if i % 3 else Verdict.OK),
                    scores={"crack": 0.25, "good": 0.75})
            for i in range(2_500)]  # more than two store pages
    store.write(rows)
    with client.stream("GET", "/inspections.csv", params={"station_id": uid}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        chunks = list(response.iter_text())
    lines = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert len(chunks) >= 3 and len(lines) == 2_500
    assert [r["part_id"] for r in lines] == [f"{uid}-{i:04d}" for i in reversed(range(2_500))]
    first = lines[-1]
    assert first["inspected_at"] == "2024-05-01T08:00:00+00:00" and first["verdict"] == "OK"
    assert json.loads(first["scores"]) == {"crack": 0.25, "good": 0.75}
    assert lines[-8]["serial"] == "'=cmd|7"  # a spreadsheet must not run it as a formula
    ng = client.get("/inspections.csv", params={"station_id": uid, "verdict": "NG"}).text
    assert ng.splitlines()[0].startswith("part_id,station_id,serial")
    assert len(ng.splitlines()) == 1 + sum(1 for i in range(2_500) if i % 3)


def test_csv_export_of_nothing_is_the_header(client, uid):
    response = client.get("/inspections.csv", params={"station_id": f"{uid}-none"})
    assert response.status_code == 200 and response.text.startswith("part_id,")
    assert len(response.text.splitlines()) == 1
