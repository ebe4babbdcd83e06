"""The upload option: a station's uploader sends its images to a real central service (uvicorn on a
local port), which then serves them itself; the upload route refuses what it must."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.api.station_fetch import CentralSettings
from inspector.domain import Verdict
from inspector.image_upload import OUTPUT, ImageUploader, Unavailable, UploadSettings
from inspector.storage.delivery import DeliveryStore
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE, T0, inspection, new_key

STATION = "line-up"


def _encoded(suffix: str, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 56, 3), np.uint8)
    ok, data = cv2.imencode(suffix, pixels)
    assert ok
    return data.tobytes()


def _row(i: int, image: str | None, heatmap: str | None = None):
    return replace(inspection(f"up-{i}", f"S-up-{i}", T0.replace(minute=i), STATION, Verdict.NG,
                              "crack"), image_path=image, heatmap_path=heatmap)


# a-1: image and heatmap; 2: image; 3: nothing archived (an OK part); 4: deleted by retention;
# 5: archived, but its row has not reached the central database yet
ROWS = [_row(1, "d/NG/up-1.jpg", "d/NG/up-1_heatmap.png"), _row(2, "d/NG/up-2.jpg"), _row(3, None),
        _row(4, "d/NG/up-4.jpg"), _row(5, "d/NG/up-5.jpg")]


@dataclass
class Setup:
    station: InspectionStore
    images: Path            # the station's archive
    central: InspectionStore
    central_images: Path
    url: str
    operator_key: str
    files: dict[str, bytes]


def _serve(app) -> tuple[uvicorn.Server, threading.Thread, str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "central API did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


@pytest.fixture
def setup(tmp_path) -> Iterator[Setup]:
    images = tmp_path / "station" / "images"
    files = {"d/NG/up-1.jpg": _encoded(".jpg", 1), "d/NG/up-1_heatmap.png": _encoded(".png", 2),
             "d/NG/up-2.jpg": _encoded(".jpg", 3), "d/NG/up-5.jpg": _encoded(".jpg", 5)}
    for rel, data in files.items():
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        (images / rel).write_bytes(data)
    station = InspectionStore.open(sqlite_url(tmp_path / "station"))
    station.write(ROWS)
    central = InspectionStore.open(sqlite_url(tmp_path / "central"))
    central.write(ROWS[:4])
    central_images = tmp_path / "central" / "images"
    app = create_app(central, settings=ApiSettings(images_dir=central_images,
                                                   central=CentralSettings()))
    server, thread, url = _serve(app)
    try:
        yield Setup(station, images, central, central_images, url,
                    new_key(central, "operator", name=STATION), files)
    finally:
        server.should_exit = True
        thread.join(10)
        station.close()
        central.close()


def _uploader(s: Setup, key: str | None = None) -> tuple[ImageUploader, DeliveryStore]:
    store = DeliveryStore(s.station.engine)
    settings = UploadSettings(station_id=STATION, central_api=s.url, images_dir=s.images,
                              api_key=key or s.operator_key, timeout_s=5, poll_s=0.05)
    return ImageUploader(store, settings), store


def test_the_station_uploads_its_images_in_order_and_waits_for_unforwarded_parts(setup: Setup):
    uploader, store = _uploader(setup)
    uploader.run(until_empty=True)
    for rel in ("d/NG/up-1.jpg", "d/NG/up-1_heatmap.png", "d/NG/up-2.jpg"):
        assert (setup.central_images / rel).read_bytes() == setup.files[rel]
    assert not (setup.central_images / "d/NG/up-5.jpg").exists()
    stats = uploader.stats
    assert (stats.files, stats.missing, stats.rows, stats.waiting_for) == (3, 1, 4, "up-5")
    # the forwarder brings up-5 over; the next pass sends it, and only it
    setup.central.write(ROWS[4:])
    again, _ = _uploader(setup)
    again.run(until_empty=True)
    assert (again.stats.files, again.stats.waiting_for) == (1, None)
    assert (setup.central_images / "d/NG/up-5.jpg").read_bytes() == setup.files["d/NG/up-5.jpg"]
    assert store.cursor(STATION, OUTPUT) == store.last_id(STATION)


def test_the_central_service_serves_an_uploaded_image_without_its_station(setup: Setup):
    _uploader(setup)[0].run(until_empty=True)
    viewer = TestClient(create_app(setup.central, settings=ApiSettings(
        images_dir=setup.central_images, central=CentralSettings())), base_url=API_BASE,
        headers={"X-API-Key": new_key(setup.central, "viewer")})
    response = viewer.get("/inspections/up-1/heatmap")  # the station registered no address
    assert response.status_code == 200 and response.content == setup.files["d/NG/up-1_heatmap.png"]


def test_a_key_the_central_service_refuses_is_retried_and_says_which_setting(setup: Setup):
    uploader, store = _uploader(setup, key=new_key(setup.central, "viewer"))
    with pytest.raises(Unavailable, match="INSPECTOR_CENTRAL_API_KEY"):
        uploader.step()
    assert store.cursor(STATION, OUTPUT) is None  # nothing counted as sent


def test_an_unreachable_central_service_is_retried_with_backoff(setup: Setup):
    uploader, store = _uploader(setup)
    uploader.settings = replace(uploader.settings, central_api="http://127.0.0.1:9",
                                backoff_max_s=0.05)
    worker = threading.Thread(target=uploader.run)
    worker.start()
    deadline = time.monotonic() + 5
    while uploader.stats.errors < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    uploader.request_stop()
    worker.join(5)
    assert uploader.stats.errors >= 3 and "cannot be reached" in uploader.stats.last_error
    assert store.cursor(STATION, OUTPUT) is None


@pytest.fixture
def central_client(tmp_path) -> Iterator[tuple[TestClient, InspectionStore, Path]]:
    store = InspectionStore.open(sqlite_url(tmp_path / "c"))
    store.write([_row(1, "d/NG/up-1.jpg", "d/NG/up-1_heatmap.png"), _row(2, "../up-2.jpg"),
                 _row(3, None)])
    root = tmp_path / "c" / "images"
    client = TestClient(create_app(store, settings=ApiSettings(images_dir=root,
                                                               central=CentralSettings())),
                        base_url=API_BASE, headers={"X-API-Key": new_key(store, "operator")})
    yield client, store, root
    store.close()


def test_the_upload_route_refuses_what_it_must(central_client):
    client, store, root = central_client
    jpeg, png = _encoded(".jpg", 7), _encoded(".png", 8)
    put = client.put
    assert put("/inspections/up-1/image", content=png).status_code == 422      # not a JPEG
    assert put("/inspections/up-1/heatmap", content=jpeg).status_code == 422   # not a PNG
    assert put("/inspections/up-2/image", content=jpeg).status_code == 422     # a path leaving
    assert put("/inspections/up-3/image", content=jpeg).status_code == 409     # names no image
    assert put("/inspections/up-9/image", content=jpeg).status_code == 404     # not here yet
    assert not root.exists() or not any(root.rglob("*"))  # nothing written by the refusals
    first = put("/inspections/up-1/image", content=jpeg)
    assert first.status_code == 200 and first.json()["written"] is True
    assert (root / "d/NG/up-1.jpg").read_bytes() == jpeg
    assert put("/inspections/up-1/image", content=jpeg).json()["written"] is False
    viewer = {"X-API-Key": new_key(store, "viewer")}
    assert put("/inspections/up-1/image", content=jpeg, headers=viewer).status_code == 403


def test_a_station_takes_no_uploads(tmp_path):
    store = InspectionStore.open(sqlite_url(tmp_path / "s"))
    store.write([_row(1, "d/NG/up-1.jpg")])
    client = TestClient(create_app(store, settings=ApiSettings(images_dir=tmp_path / "img")),
                        base_url=API_BASE, headers={"X-API-Key": new_key(store, "admin")})
    response = client.put("/inspections/up-1/image", content=_encoded(".jpg", 1))
    assert response.status_code == 409 and "central" in response.json()["detail"]
    store.close()
