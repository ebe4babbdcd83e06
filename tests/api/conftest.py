"""Fixtures: the API over a fresh SQLite store (and PostgreSQL when INSPECTOR_TEST_PG_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from inspector.api import ApiSettings, create_app
from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.storage.events import EventStore
from inspector.storage.keys import KeyStore
from inspector.storage.store import InspectionStore

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
API_BASE = "http://testserver/api/v1"  # test clients speak to the routes under /api/v1


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path: Path) -> Iterator[InspectionStore]:
    """A migrated store; the PostgreSQL variant shares one database, so tests use unique ids."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'inspector.db'}"
    else:
        url = os.environ.get("INSPECTOR_TEST_PG_URL", "")
        if not url:
            pytest.skip("INSPECTOR_TEST_PG_URL is not set (e.g. "
                        "postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    opened = InspectionStore.open(url)
    yield opened
    opened.close()


@pytest.fixture
def events(store: InspectionStore) -> EventStore:
    return EventStore(store.engine)


@pytest.fixture
def make_client(store: InspectionStore, events: EventStore) -> Callable[..., TestClient]:
    """A client sending a fresh key of `role` (None: no key) over an app with `settings`."""

    def make(role: str | None = "admin", **settings) -> TestClient:
        client = TestClient(create_app(store, events, ApiSettings(**settings)), base_url=API_BASE)
        if role is not None:
            client.headers["X-API-Key"] = new_key(store, role)
        return client

    return make


# cheap argon2 parameters for tests: the server verifies with the parameters in each hash
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def new_key(store: InspectionStore, role: str, name: str = "test") -> str:
    """A new API key of `role` in `store`, in clear."""
    return KeyStore(store.engine, hasher=TEST_HASHER).create(name, role, actor="test").secret


@pytest.fixture
def client(make_client) -> TestClient:
    return make_client()


@pytest.fixture
def uid() -> str:
    """A unique prefix for serials and station ids (the PostgreSQL database is shared)."""
    return uuid.uuid4().hex[:10]


def event(serial: str, machine: str = "kiln-2", minutes: float = 0, **params) -> dict:
    return {"serial": serial, "machine": machine, "step": f"step-{machine}",
            "timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
            "parameters": params or {"temperature": 850.5, "lot": "L1"}}


def inspection(part_id: str, serial: str, at: datetime, station: str,
               verdict: Verdict = Verdict.OK, label: str = "free") -> Inspection:
    return Inspection(
        part_id=part_id, station_id=station, serial=serial, serial_source=SerialSource.CODE,
        captured_at=at, inspected_at=at, status=Status.OK, verdict=verdict, label=label,
        defect_score=0.9 if verdict is Verdict.NG else 0.1, scores={label: 0.9},
        model_version="test",
    )
