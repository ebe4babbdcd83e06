"""POST /events and GET /events: bulk ingestion, per-event errors, idempotence, limits."""

from __future__ import annotations

import json

from .conftest import event


def _serial_events(client, serial: str) -> list[dict]:
    response = client.get("/events", params={"serial": serial})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_a_good_batch_is_stored_and_listed_in_time_order(client, uid):
    batch = [event(f"{uid}-1", "kiln-2", 30), event(f"{uid}-1", "press-1", 0),
             event(f"{uid}-2", "press-1", 5)]
    response = client.post("/events", json=batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 3, "stored": 3, "duplicates": 0, "revised": 0,
                               "rejected": 0, "errors": []}
    listed = _serial_events(client, f"{uid}-1")
    assert [e["machine"] for e in listed] == ["press-1", "kiln-2"]
    assert listed[0]["parameters"] == {"temperature": 850.5, "lot": "L1"}
    assert listed[0]["timestamp"].startswith("2024-05-01T08:00:00")


def test_one_event_object_is_accepted(client, uid):
    response = client.post("/events", json=event(f"{uid}-1"))
    assert response.status_code == 200
    assert response.json()["stored"] == 1


def test_a_partly_bad_batch_stores_the_good_and_reports_the_bad_by_index(client, uid):
    good = [event(f"{uid}-ok1"), event(f"{uid}-ok2")]
    bad_param = event(f"{uid}-bad", temperature=[1, 2])         # not a number or a string
    no_zone = dict(event(f"{uid}-bad2"), timestamp="2024-05-01T08:00:00")
    batch = [good[0], bad_param, 42, good[1], no_zone, {"serial": f"{uid}-x"}]
    response = client.post("/events", json=batch)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["received"], body["stored"], body["rejected"]) == (6, 2, 4)
    errors = {e["index"]: e["message"] for e in body["errors"]}
    assert sorted(errors) == [1, 2, 4, 5]
    assert "temperature" in errors[1] and "number or a string" in errors[1]
    assert "JSON object" in errors[2]
    assert "time zone" in errors[4]
    assert "machine: Field required" in errors[5]
    # the good ones are stored, nothing of the bad ones is
    assert len(_serial_events(client, f"{uid}-ok1")) == 1
    assert len(_serial_events(client, f"{uid}-ok2")) == 1
    for serial in ("bad", "bad2", "x"):
        assert _serial_events(client, f"{uid}-{serial}") == []


def test_posting_the_same_batch_again_stores_nothing_new(client, uid):
    batch = [event(f"{uid}-1", "press-1", 0), event(f"{uid}-1", "kiln-2", 30)]
    assert client.post("/events", json=batch).json()["stored"] == 2
    again = client.post("/events", json=[*batch, event(f"{uid}-2")]).json()
    assert (again["stored"], again["duplicates"], again["rejected"]) == (1, 2, 0)
    assert len(_serial_events(client, f"{uid}-1")) == 2


def test_malformed_bodies_are_422_with_a_message(client):
    cases = {b"{not json": "not valid JSON", b"": "empty body", b"42": "got int",
             b'"text"': "got str", b"\xff\xfe": "not valid JSON"}
    for body, message in cases.items():
        response = client.post("/events", content=body,
                               headers={"content-type": "application/json"})
        assert response.status_code == 422, body
        assert message in response.json()["detail"], (body, response.json())


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(make_client, uid):
    client = make_client(max_body_bytes=2_000)
    batch = [event(f"{uid}-{i}") for i in range(30)]
    response = client.post("/events", content=json.dumps(batch).encode(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert "smaller batches" in response.json()["detail"]
    assert _serial_events(client, f"{uid}-0") == []

    def chunked():  # no content-length: the limit still holds
        yield json.dumps(batch).encode()

    response = client.post("/events", content=chunked(),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_get_events_needs_a_serial_and_an_unknown_one_has_none(client, uid):
    response = client.get("/events")
    assert response.status_code == 422
    assert "serial" in response.json()["detail"]
    assert client.get("/events", params={"serial": f"{uid}-none"}).json()["count"] == 0


def test_a_corrected_event_is_counted_as_revised(client, uid):
    first = event(f"{uid}-9", "kiln-2", 10)
    assert client.post("/events", json=[first]).json()["stored"] == 1
    corrected = {**first, "parameters": {**first["parameters"], "temperature": 851.0}}
    again = client.post("/events", json=[corrected]).json()
    assert (again["stored"], again["duplicates"], again["revised"]) == (0, 0, 1)
    assert _serial_events(client, f"{uid}-9")[0]["parameters"]["temperature"] == 851.0
