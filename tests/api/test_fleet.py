"""The central service over rows of several stations: the station filter on every route, /fleet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.domain import Verdict
from inspector.storage.audit import AuditLog
from inspector.storage.review import Review, ReviewStore
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE, T0, inspection, new_key
from tests.api.fleet_db import central_url, register

A, B, C = "line-a", "line-b", "line-c"
# parts per station and verdict (B's labels differ, so the Pareto differs too)
PLAN = {A: [Verdict.OK] * 6 + [Verdict.NG] * 2, B: [Verdict.OK] * 3 + [Verdict.REVIEW] * 1}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def central(request, tmp_path_factory) -> Iterator[InspectionStore]:
    """A central database holding parts of stations A and B (one serial inspected at both),
    registry rows for A and C, status rows for A and B, reviews and audit entries of both."""
    tmp = tmp_path_factory.mktemp("central")
    for url in central_url(request.param, tmp):
        store = InspectionStore.open(url)
        rows = []
        for station, verdicts in PLAN.items():
            for i, verdict in enumerate(verdicts):
                label = "free" if verdict is Verdict.OK else ("crack" if station == A else "chip")
                serial = "S0" if i == 0 else f"{station}-S{i}"
                rows.append(inspection(f"{station}-{i}", serial, T0 + timedelta(minutes=i),
                                       station, verdict, label))
        store.write(rows)
        now = datetime.now(UTC)
        register(store, A, now - timedelta(seconds=5), api_url="http://10.0.0.11:8000",
                 lag_rows=12, lag_seconds=3.5)
        register(store, C, now - timedelta(hours=2))  # registered, silent since: stale
        store.set_station_status(A, {"model_version": "tiles@v7", "camera_state": "streaming",
                                     "camera_online": True, "alarms": []})
        store.set_station_status(B, {"camera_state": "camera_offline", "camera_online": False,
                                     "alarms": ["camera_offline"]})
        reviews = ReviewStore(store.engine)
        reviews.record(Review(f"{A}-6", "crack", None, "qe", A))
        reviews.record(Review(f"{B}-3", "chip", None, "qe", B))
        reviews.record(Review(f"{B}-0", "free", None, "qe", B))
        yield store
        store.close()


@pytest.fixture(scope="module")
def api(central: InspectionStore, tmp_path_factory) -> TestClient:
    images = tmp_path_factory.mktemp("images")  # empty: the images live on the stations
    client = TestClient(create_app(central, settings=ApiSettings(images_dir=images)),
                        base_url=API_BASE)
    client.headers["X-API-Key"] = new_key(central, "admin")
    return client


WINDOW = {"since": T0.isoformat(), "until": (T0 + timedelta(hours=2)).isoformat()}


def test_inspections_and_their_csv_keep_to_the_station(api):
    for station, verdicts in PLAN.items():
        body = api.get("/inspections", params={"station_id": station}).json()
        assert body["count"] == len(verdicts)
        assert {i["station_id"] for i in body["items"]} == {station}
        text = api.get("/inspections.csv", params={"station_id": station}).text
        assert {r["station_id"] for r in csv.DictReader(io.StringIO(text))} == {station}
    assert api.get("/inspections").json()["count"] == sum(map(len, PLAN.values()))


def test_stats_count_one_station_or_all(api):
    a = api.get("/stats", params={**WINDOW, "station_id": A}).json()
    b = api.get("/stats", params={**WINDOW, "station_id": B}).json()
    both = api.get("/stats", params=WINDOW).json()
    assert (a["total"]["parts"], a["total"]["ng"]) == (8, 2)
    assert (b["total"]["parts"], b["total"]["review"]) == (4, 1)
    assert both["total"]["parts"] == 12
    assert [d["label"] for d in a["pareto"]] == ["crack"]
    assert [d["label"] for d in b["pareto"]] == ["chip"]


def test_root_cause_analyses_only_the_station_asked_for(api):
    assert api.get("/root-cause", params={**WINDOW, "station_id": A}).json()["parts"] == 8
    assert api.get("/root-cause", params={**WINDOW, "station_id": B}).json()["parts"] == 4
    # S0 was inspected at both: across stations root cause counts a serial once
    assert api.get("/root-cause", params=WINDOW).json()["parts"] == 11
    empty = api.get("/root-cause", params={**WINDOW, "station_id": C})
    assert empty.status_code == 422 and f"at station '{C}'" in empty.json()["detail"]


def test_the_review_queue_and_export_keep_to_the_station(api):
    queue = api.get("/review/queue", params={"station_id": A}).json()["items"]
    assert queue and {p["station_id"] for p in queue} == {A}
    b_queue = api.get("/review/queue", params={"station_id": B}).json()["items"]
    assert b_queue == [] or {p["station_id"] for p in b_queue} == {B}
    old_name = api.get("/review/queue", params={"station": A}).json()["items"]
    assert [p["part_id"] for p in old_name] == [p["part_id"] for p in queue]
    clash = api.get("/review/queue", params={"station_id": A, "station": B})
    assert clash.status_code == 422 and "disagree" in clash.json()["detail"]
    # no image is archived centrally: every reviewed part of the station is counted as skipped
    assert api.get("/review/export", params={"station_id": A}).headers["X-Export-Skipped"] == "1"
    assert api.get("/review/export", params={"station_id": B}).headers["X-Export-Skipped"] == "2"


def test_audit_entries_keep_to_the_station(api, central):
    AuditLog(central.engine).record("qe", "threshold.set", "tiles", 0.5, 0.6, station_id=B)
    entries = api.get("/audit", params={"station_id": B}).json()["items"]
    assert entries and {e["station_id"] for e in entries} == {B}
    a_entries = api.get("/audit", params={"station_id": A}).json()["items"]
    assert a_entries and {e["station_id"] for e in a_entries} == {A}


def test_a_serial_seen_at_two_stations_can_be_narrowed_to_one(api):
    both = api.get("/serials/S0").json()
    assert {i["station_id"] for i in both["inspections"]} == {A, B}
    only_b = api.get("/serials/S0", params={"station_id": B}).json()
    assert [i["part_id"] for i in only_b["inspections"]] == [f"{B}-0"]
    assert api.get(f"/serials/{A}-S7", params={"station_id": B}).status_code == 404


def test_the_fleet_lists_every_station_with_contact_lag_yield_model_and_camera(api):
    body = api.get("/fleet", params=WINDOW).json()
    by_id = {s["station_id"]: s for s in body["items"]}
    assert list(by_id) == [A, B, C] and body["count"] == 3
    a, b, c = by_id[A], by_id[B], by_id[C]
    assert a["registered"] and not a["stale"] and a["api_url"] == "http://10.0.0.11:8000"
    assert (a["lag_rows"], a["lag_seconds"]) == (12, 3.5)
    assert (a["parts"], a["ok"], a["ng"], a["yield"]) == (8, 6, 2, 0.75)
    assert a["model_version"] == "tiles@v7" and a["camera_state"] == "streaming"
    # B never forwarded (it writes here directly): contact is its status row, fresh
    assert not b["registered"] and b["lag_rows"] is None and not b["stale"]
    assert b["model_version"] == "test"  # no model in its status: its newest part's
    assert b["camera_online"] is False and b["alarms"] == ["camera_offline"]
    assert b["yield"] == 0.75
    # C registered two hours ago and was not heard of since; it has no parts in the window
    assert c["stale"] and c["parts"] == 0 and c["yield"] is None and body["stale"] == 1
    lenient = api.get("/fleet", params={**WINDOW, "stale_after_s": 3 * 3600}).json()
    assert lenient["stale"] == 0


def test_the_fleet_yield_counts_only_the_window(api):
    later = {"since": (T0 + timedelta(days=1)).isoformat(),
             "until": (T0 + timedelta(days=2)).isoformat()}
    body = api.get("/fleet", params=later).json()
    assert [s["parts"] for s in body["items"]] == [0, 0, 0]  # the stations are still listed
    assert api.get("/fleet", params={"stale_after_s": 0}).status_code == 422


def test_the_fleet_needs_a_viewer_key(api, central):
    app = api.app
    anonymous = TestClient(app, base_url=API_BASE)
    assert anonymous.get("/fleet").status_code == 401
    viewer = TestClient(app, base_url=API_BASE, headers={"X-API-Key": new_key(central, "viewer")})
    assert viewer.get("/fleet").status_code == 200


def test_serve_is_central_by_default_over_postgresql_without_a_station_config(monkeypatch):
    from inspector.commands.serve import ServeSetup, _with_central
    from inspector.trace.config import MqttEventsConfig

    def setup(url: str) -> ServeSetup:
        return ServeSetup(url=url, host="127.0.0.1", port=8000, mqtt=MqttEventsConfig(),
                          settings=ApiSettings())

    monkeypatch.setenv("INSPECTOR_STATION_API_KEY", "insp_central")
    monkeypatch.setenv("INSPECTOR_STATION_API_KEY_LINE_3_B", "insp_line3b")
    pg = "postgresql+psycopg://inspector@db/plant"
    central = _with_central(setup(pg), None, True, 2.0).settings.central
    assert central is not None and central.station_api_key == "insp_central"
    assert central.timeout_s == 2.0 and "insp_" not in repr(central)
    assert central.key_for("line-3.b") == "insp_line3b" and central.key_for("x") == "insp_central"
    assert _with_central(setup(pg), None, False, 5.0).settings.central is None  # a station's own
    assert _with_central(setup(pg), False, True, 5.0).settings.central is None
    assert _with_central(setup("sqlite:///x.db"), None, True, 5.0).settings.central is None
    monkeypatch.delenv("INSPECTOR_STATION_API_KEY")
    monkeypatch.delenv("INSPECTOR_STATION_API_KEY_LINE_3_B")
    forced = _with_central(setup("sqlite:///x.db"), True, True, 5.0).settings.central
    assert forced is not None and forced.station_api_key is None


def test_a_fleet_of_one_station_names_its_model(tmp_path):
    store = InspectionStore.open(f"sqlite:///{tmp_path / 'one.db'}")
    store.write([inspection("solo-1", "S-solo", T0, "solo")])
    client = TestClient(create_app(store, settings=ApiSettings(open_reads=True)), base_url=API_BASE)
    body = client.get("/fleet", params=WINDOW).json()
    assert [(s["station_id"], s["model_version"], s["parts"]) for s in body["items"]] == [
        ("solo", "test", 1)]
    store.close()
