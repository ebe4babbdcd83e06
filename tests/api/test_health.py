"""GET /health: database reachable and station status rows; 503 (and JSON errors) when not."""

from __future__ import annotations

from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE


def test_health_reports_the_database_and_station_status(client, store, uid):
    store.set_station_status(uid, {"parts": 12, "camera_state": "online"})
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["db"] is True
    mine = next(s for s in body["stations"] if s["station_id"] == uid)
    assert mine["state"] == {"parts": 12, "camera_state": "online"} and mine["age_s"] >= 0
    assert body["mqtt"] is None  # this server runs no MQTT subscriber


def test_an_unreachable_database_is_503_with_a_message():
    # nothing listens on port 1: the connection is refused at once
    store = InspectionStore.open("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2",
                                 migrate=False)
    try:
        client = TestClient(create_app(store, settings=ApiSettings(open_reads=True)), base_url=API_BASE)
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["db"] is False and "cannot" in health.json()["detail"]
        listing = client.get("/inspections")
        assert listing.status_code == 503 and "cannot list inspections" in listing.json()["detail"]
        post = client.post("/events", json=[{"serial": "a", "machine": "m", "step": "s",
                                             "timestamp": "2024-05-01T00:00:00Z"}],
                           headers={"X-API-Key": "insp_0123abcd_secret"})
        assert post.status_code == 503 and "cannot read API keys" in post.json()["detail"]
    finally:
        store.close()


def test_the_openapi_document_lists_every_route(client):
    response = client.get("http://testserver/openapi.json")  # beside /docs, outside /api/v1
    assert response.status_code == 200
    paths = {p.removeprefix("/api/v1"): v for p, v in response.json()["paths"].items()}
    assert {"/events", "/serials/{serial}", "/root-cause", "/inspections", "/inspections/{part_id}",
            "/health", "/trigger", "/station", "/metrics", "/models", "/review/queue"} <= set(paths)
    assert "requestBody" in paths["/events"]["post"]
