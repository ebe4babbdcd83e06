"""GET /serials/{serial}: genealogy in time order, 404 for an unknown serial."""

from __future__ import annotations

from datetime import timedelta

from inspector.domain import Verdict

from .conftest import T0, event, inspection


def test_unknown_serial_is_404_with_a_message(client, uid):
    response = client.get(f"/serials/{uid}-nobody")
    assert response.status_code == 404
    assert response.json() == {"detail": f"serial '{uid}-nobody' is unknown (no inspection, "
                                         "no event)"}


def test_genealogy_merges_events_and_inspections_in_time_order(client, store, uid):
    serial = f"{uid}-S1"
    # posted out of order: coating (100 min), pressing (0), firing (30)
    batch = [event(serial, "coater-1", 100), event(serial, "press-1", 0),
             event(serial, "kiln-2", 30), event(f"{uid}-other", "press-1", 1)]
    assert client.post("/events", json=batch).json()["stored"] == 4
    store.write([
        inspection(f"{uid}-p2", serial, T0 + timedelta(minutes=200), uid, Verdict.OK),
        inspection(f"{uid}-p1", serial, T0 + timedelta(minutes=110), uid, Verdict.NG, "crack"),
    ])
    response = client.get(f"/serials/{serial}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["serial"] == serial
    assert [e["machine"] for e in body["events"]] == ["press-1", "kiln-2", "coater-1"]
    assert [i["part_id"] for i in body["inspections"]] == [f"{uid}-p1", f"{uid}-p2"]
    assert body["inspections"][0]["verdict"] == "NG" and body["inspections"][0]["label"] == "crack"
    what = [t["what"] for t in body["timeline"]]
    assert what == ["press-1/step-press-1", "kiln-2/step-kiln-2", "coater-1/step-coater-1",
                    "NG crack", "OK free"]
    assert [t["kind"] for t in body["timeline"]] == ["event"] * 3 + ["inspection"] * 2


def test_a_serial_with_only_an_inspection_is_found(client, store, uid):
    store.write([inspection(f"{uid}-p", f"{uid}-S", T0, uid)])
    body = client.get(f"/serials/{uid}-S").json()
    assert len(body["inspections"]) == 1 and body["events"] == []
