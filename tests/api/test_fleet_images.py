"""Central service: a part's image comes through its station's real API (uvicorn on a local port)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.api.station_fetch import CentralSettings
from inspector.domain import Verdict
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE, T0, inspection, new_key
from tests.api.fleet_db import register

STATION = "line-a"
IMAGE = "2024/05/01/a-1.jpg"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def station(tmp_path_factory) -> Iterator[tuple[str, str, bytes]]:
    """A station's own API with one archived part (its image; its heatmap row names a file that
    retention deleted), served by uvicorn on a local port: (url, its viewer key, the JPEG)."""
    tmp = tmp_path_factory.mktemp("station")
    images = tmp / "images"
    (images / IMAGE).parent.mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.random.default_rng(3).integers(0, 255, (64, 80, 3), np.uint8))
    assert ok
    (images / IMAGE).write_bytes(jpeg.tobytes())
    store = InspectionStore.open(sqlite_url(tmp / "data"))
    store.write([_part()])
    key = new_key(store, "viewer", name="central")
    app = create_app(store, settings=ApiSettings(images_dir=images, station_id=STATION))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "station API did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", key, jpeg.tobytes()
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def _part(part_id: str = "a-1", station_id: str = STATION):
    return replace(inspection(part_id, f"S-{part_id}", T0, station_id, Verdict.NG, "crack"),
                   image_path=IMAGE, heatmap_path="2024/05/01/a-1-heat.png")


@pytest.fixture
def central(tmp_path, station) -> Iterator[InspectionStore]:
    """The central database: the part as forwarded, and the station's registry row."""
    store = InspectionStore.open(sqlite_url(tmp_path / "central"))
    store.write([_part()])
    register(store, STATION, datetime.now(UTC), api_url=station[0])
    yield store
    store.close()


def _client(store: InspectionStore, tmp_path: Path, **central) -> TestClient:
    settings = ApiSettings(images_dir=tmp_path / "central-images",
                           central=CentralSettings(**central))
    client = TestClient(create_app(store, settings=settings), base_url=API_BASE)
    client.headers["X-API-Key"] = new_key(store, "viewer")
    return client


def test_the_image_comes_through_the_station(central, station, tmp_path):
    _, key, jpeg = station
    response = _client(central, tmp_path, station_api_key=key).get("/inspections/a-1/image")
    assert response.status_code == 200, response.text
    assert response.content == jpeg and response.headers["content-type"] == "image/jpeg"


def test_the_stations_404_passes_through_with_its_reason(central, station, tmp_path):
    response = _client(central, tmp_path, station_api_key=station[1]).get("/inspections/a-1/heatmap")
    assert response.status_code == 404
    assert "line-a" in response.json()["detail"] and "not in the archive" in response.json()["detail"]


def test_a_key_the_station_refuses_is_a_502_that_says_which_setting(central, tmp_path):
    response = _client(central, tmp_path, station_api_key="insp_wrong").get("/inspections/a-1/image")
    assert response.status_code == 502
    assert "INSPECTOR_STATION_API_KEY" in response.json()["detail"]


def test_a_stations_own_key_wins_over_the_shared_one(central, station, tmp_path):
    own = {"INSPECTOR_STATION_API_KEY_LINE_A": station[1]}  # line-a: each database has own keys
    client = _client(central, tmp_path, station_api_key="insp_wrong", station_keys=own)
    assert client.get("/inspections/a-1/image").content == station[2]


def test_an_image_over_the_size_cap_is_refused_not_cut(central, station, tmp_path):
    client = _client(central, tmp_path, station_api_key=station[1], max_bytes=len(station[2]) - 1)
    response = client.get("/inspections/a-1/image")
    assert response.status_code == 502 and "byte limit" in response.json()["detail"]


def test_a_station_that_is_down_is_502(central, tmp_path):
    register_elsewhere(central, f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    response = _client(central, tmp_path).get("/inspections/b-1/image")
    assert response.status_code == 502 and "cannot be reached" in response.json()["detail"]


def test_a_station_that_does_not_answer_is_504_within_the_timeout(central, tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        register_elsewhere(central, f"http://127.0.0.1:{silent.getsockname()[1]}")
        t0 = time.monotonic()
        response = _client(central, tmp_path, timeout_s=0.5).get("/inspections/b-1/image")
        took = time.monotonic() - t0
    assert response.status_code == 504 and "did not answer" in response.json()["detail"]
    assert took < 5  # bounded by the timeout, not the client's patience


def test_a_station_without_an_address_and_a_central_copy(central, tmp_path):
    central.write([_part("c-1", "line-c")])  # line-c forwards but registered no address
    client = _client(central, tmp_path)
    response = client.get("/inspections/c-1/image")
    assert response.status_code == 404 and "registered no API address" in response.json()["detail"]
    copy = tmp_path / "central-images" / IMAGE  # an image the central side holds itself wins
    copy.parent.mkdir(parents=True)
    copy.write_bytes(b"\xff\xd8central copy")
    assert client.get("/inspections/c-1/image").content == b"\xff\xd8central copy"


def register_elsewhere(store: InspectionStore, api_url: str) -> None:
    """Part b-1 of a station line-b whose registered address is `api_url`."""
    store.write([_part("b-1", "line-b")])
    register(store, "line-b", datetime.now(UTC), api_url=api_url)
