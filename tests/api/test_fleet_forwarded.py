"""End to end: a station forwards with the real forwarder; the central service lists it in /fleet
and fetches its part's image through the address the forwarder registered."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import uvicorn
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.api.station_fetch import CentralSettings, station_key_env
from inspector.domain import Verdict
from inspector.storage.engine import sqlite_url
from inspector.storage.forwarder import Forwarder, ForwardSettings
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE, T0, inspection, new_key
from tests.api.fleet_db import central_url

STATION = "press-7.left"
IMAGE = "2024-05-01/NG/fw-0.jpg"


@pytest.fixture(params=["sqlite", "postgresql"])
def central(request, tmp_path) -> Iterator[str]:
    yield from central_url(request.param, tmp_path / "central")


@pytest.fixture
def station(tmp_path) -> Iterator[tuple[InspectionStore, str, str, bytes]]:
    """A station with 5 parts (the first NG with its image) and its status row, its API served
    on a local port: (store, address, a viewer key for the central service, the JPEG)."""
    images = tmp_path / "station" / "images"
    (images / IMAGE).parent.mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", np.full((32, 48, 3), 90, np.uint8))
    assert ok
    (images / IMAGE).write_bytes(jpeg.tobytes())
    store = InspectionStore.open(sqlite_url(tmp_path / "station"))
    rows = [inspection(f"fw-{i}", f"S-fw-{i}", T0.replace(minute=i), STATION,
                       Verdict.NG if i == 0 else Verdict.OK) for i in range(5)]
    store.write([replace(rows[0], image_path=IMAGE), *rows[1:]])
    store.set_station_status(STATION, {"model_version": "tiles@v9", "camera_state": "streaming",
                                       "camera_online": True, "alarms": []})
    key = new_key(store, "viewer", name="central")
    app = create_app(store, settings=ApiSettings(images_dir=images, station_id=STATION))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "station API did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield store, f"http://127.0.0.1:{port}", key, jpeg.tobytes()
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()


def test_a_forwarded_station_is_in_the_fleet_and_its_images_come_through(central, station,
                                                                         tmp_path: Path):
    store, address, key, jpeg = station
    local = store.engine.url.render_as_string(hide_password=False)
    forwarder = Forwarder(local, ForwardSettings(station_id=STATION, central_url=central,
                                                 api_url=address, backoff_max_s=0.5))
    forwarder.run(until_empty=True)
    forwarder.close()

    db = InspectionStore.open(central)
    try:
        settings = ApiSettings(images_dir=tmp_path / "none", central=CentralSettings(
            station_keys={station_key_env(STATION): key}, timeout_s=5))
        client = TestClient(create_app(db, settings=settings), base_url=API_BASE,
                            headers={"X-API-Key": new_key(db, "viewer")})
        window = {"since": T0.isoformat(), "until": T0.replace(hour=T0.hour + 1).isoformat()}
        fleet = client.get("/fleet", params=window).json()
        [seen] = [s for s in fleet["items"] if s["station_id"] == STATION]
        assert seen["registered"] and seen["api_url"] == address and not seen["stale"]
        assert (seen["lag_rows"], seen["parts"], seen["ng"]) == (0, 5, 1)
        assert seen["model_version"] == "tiles@v9" and seen["camera_state"] == "streaming"
        listed = client.get("/inspections", params={"station_id": STATION}).json()
        assert listed["count"] == 5
        image = client.get("/inspections/fw-0/image")
        assert image.status_code == 200 and image.content == jpeg
        assert client.get("/inspections/fw-1/image").status_code == 404  # an OK part: none kept
    finally:
        db.close()
