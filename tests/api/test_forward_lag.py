"""The forward queue's lag in /health and /metrics of a station that forwards to a central database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.storage.forward_queue import ForwardQueue
from inspector.storage.store import InspectionStore
from tests.api.conftest import API_BASE, T0, inspection


@pytest.fixture
def station(tmp_path: Path) -> Iterator[InspectionStore]:
    s = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    yield s
    s.close()


def row(i: int):
    return inspection(f"p{i}", f"SN{i}", T0 + timedelta(seconds=i), "line-7")


def client_for(store: InspectionStore) -> TestClient:
    return TestClient(create_app(store, settings=ApiSettings(open_reads=True)), base_url=API_BASE)


def test_health_and_metrics_show_the_lag_of_a_forwarding_station(station: InspectionStore) -> None:
    station.set_station_status("line-7", {"running": True})
    ForwardQueue(station.engine).enable("line-7", "postgresql+psycopg://central/plant")
    station.write([row(i) for i in range(4)])
    client = client_for(station)

    forward = client.get("/health").json()["forward"]
    assert forward["station_id"] == "line-7" and forward["rows"] == 4
    assert 0 <= forward["lag_s"] < 60

    metrics = client.get("/metrics").text
    assert 'inspector_forward_queue_rows{station="line-7"} 4.0' in metrics
    assert 'inspector_forward_lag_seconds{station="line-7"}' in metrics


def test_a_station_that_does_not_forward_shows_no_lag(station: InspectionStore) -> None:
    station.set_station_status("line-7", {"running": True})
    station.write([row(1)])
    client = client_for(station)
    assert client.get("/health").json()["forward"] is None
    assert "inspector_forward_queue_rows{" not in client.get("/metrics").text
