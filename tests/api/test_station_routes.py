"""The station's own API: HTTP triggers into a running station, live status and frame, metrics."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from inspector.commands.api_server import station_api
from inspector.config import StationConfig
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore
from tests.api.conftest import new_key
from tests.faults.inputs import TILES
from tests.pipeline.fakes import FakeClassifier
from tests.rows import stored_rows

BUNDLE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile"


def _config(tmp_path: Path, trigger: dict, **api) -> StationConfig:
    folder = tmp_path / "line"
    folder.mkdir(exist_ok=True)
    for tile in TILES[:4]:
        shutil.copy(tile, folder / tile.name)
    return StationConfig.model_validate({
        "station": {"id": "http", "data_dir": str(tmp_path / "data")},
        "source": {"type": "folder", "path": str(folder), "loop": True},
        "trigger": trigger,
        "model": {"bundle": str(BUNDLE)},
        "api": {"port": 0, **api},
        "queues": {"triggers": 1024, "jobs": 1024},
    })


def _running(cfg: StationConfig, classifier=None):
    store = InspectionStore.open(cfg.db_url())
    key = new_key(store, "operator", name="plc")
    station = Station.from_config(cfg, classifier or FakeClassifier(), store=store)
    return station, key


def test_500_http_triggers_with_50_retries_give_exactly_500_rows(tmp_path):
    cfg = _config(tmp_path, {"type": "external", "max_skew_s": 5.0})
    station, key = _running(cfg)
    with station_api(cfg, station) as address:
        station.start()
        client = httpx.Client(base_url=f"{address}/api/v1", headers={"X-API-Key": key}, timeout=30)

        def announce(i: int) -> dict:
            response = client.post("/trigger", json={"serial": f"SN-{i:04d}", "part_ref": f"R{i}"})
            assert response.status_code == 202, response.text
            return response.json()

        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(announce, range(500)))
            retried = list(pool.map(lambda i: client.post(
                "/trigger", json={"serial": f"SN-{i:04d}"}, headers={"Idempotency-Key": f"R{i}"}
            ).json(), range(0, 500, 10)))
        assert all(r["duplicate"] for r in retried) and not any(r["duplicate"] for r in first)
        assert [r["part_id"] for r in retried] == [first[i]["part_id"] for i in range(0, 500, 10)]
        status = client.get("/station").json()
        assert status["station_id"] == "http" and status["status"]["triggered"] == 500
        frame = client.get("/station/frame")
        assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
        metrics = client.get("/metrics").text
        assert 'inspector_triggered_parts_total{station="http"} 500.0' in metrics
        assert "inspector_end_to_end_ms_bucket" in metrics and "inspector_model_info" in metrics
        assert station.stop(60)
        client.close()
    rows = stored_rows(tmp_path / "data")
    assert len(rows) == 500 and len({r.part_ref for r in rows}) == 500
    assert {r.part_id for r in rows} == {r["part_id"] for r in first}


def test_triggers_need_an_operator_and_an_external_trigger(tmp_path):
    cfg = _config(tmp_path, {"type": "per_frame"})
    station, key = _running(cfg)
    with station_api(cfg, station) as address:
        station.start()
        viewer = new_key(InspectionStore.open(cfg.db_url()), "viewer")
        with httpx.Client(base_url=f"{address}/api/v1", timeout=30) as client:
            assert client.post("/trigger", json={}).status_code == 401
            assert client.post("/trigger", json={}, headers={"X-API-Key": viewer}).status_code == 403
            refused = client.post("/trigger", json={}, headers={"X-API-Key": key})
            assert refused.status_code == 409 and "manual_trigger" in refused.json()["detail"]
            bad = client.post("/trigger", json={"serial": "a\x00b"}, headers={"X-API-Key": key})
            assert bad.status_code == 422
        station.request_stop()
        assert station.wait(60)


def test_a_manual_trigger_inspects_the_newest_frame_when_allowed(tmp_path):
    cfg = _config(tmp_path, {"type": "per_frame"}, manual_trigger=True)
    station, key = _running(cfg)
    with station_api(cfg, station) as address:
        station.start()
        with httpx.Client(base_url=f"{address}/api/v1", timeout=30) as client:
            receipt = client.post("/trigger", json={"serial": "MANUAL-1"},
                                  headers={"X-API-Key": key}).json()
        station.request_stop()
        assert station.wait(60)
    manual = [r for r in stored_rows(tmp_path / "data") if r.part_id == receipt["part_id"]]
    assert len(manual) == 1 and manual[0].serial == "MANUAL-1"


def test_the_station_routes_answer_409_without_a_station(make_client):
    client = make_client()
    for method, path in (("POST", "/trigger"), ("GET", "/station"), ("GET", "/station/frame")):
        response = client.request(method, path, json={} if method == "POST" else None)
        assert response.status_code == 409 and "inspector run" in response.json()["detail"]
    assert client.get("/metrics").status_code == 200


@pytest.fixture
def served_port_in_use(tmp_path):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def test_a_taken_port_is_a_clear_error(tmp_path, served_port_in_use):
    cfg = _config(tmp_path, {"type": "per_frame"}, port=served_port_in_use)
    station, _ = _running(cfg)
    from inspector.errors import ConfigError

    with pytest.raises(ConfigError, match="port in use"), station_api(cfg, station):
        pass


def test_activating_another_bundle_over_http_at_full_rate_loses_no_part(tmp_path):
    import json as _json

    from inspector.model.loader import load_classifier

    models = tmp_path / "models"
    for name in ("mt-a", "mt-b"):
        shutil.copytree(BUNDLE, models / name)
        card = models / name / "card.json"
        card.write_text(_json.dumps({**_json.loads(card.read_text()), "name": name}))
    cfg = _config(tmp_path, {"type": "per_frame"})
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"bundle": models / "mt-a"})})
    store = InspectionStore.open(cfg.db_url())
    admin = new_key(store, "admin", name="engineer")
    station = Station.from_config(cfg, load_classifier(models / "mt-a"), max_parts=120, store=store)
    with station_api(cfg, station) as address:
        station.start()
        with httpx.Client(base_url=f"{address}/api/v1", headers={"X-API-Key": admin},
                          timeout=60) as client:
            while client.get("/station").json()["status"]["parts"] < 20:
                pass
            response = client.post("/models/mt-b/activate")
            assert response.status_code == 200, response.text
        assert station.wait(120)
    rows = sorted(stored_rows(tmp_path / "data"), key=lambda r: r.captured_at)
    assert len(rows) == 120 == len({r.part_id for r in rows})  # none lost, none scored twice
    names = [r.model_version.split("@")[0] for r in rows]
    switch = names.index("mt-b")
    assert switch >= 20 and set(names[:switch]) == {"mt-a"} and set(names[switch:]) == {"mt-b"}
