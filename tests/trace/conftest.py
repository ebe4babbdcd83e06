"""Fixtures: a fresh migrated SQLite store per test; a database URL on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from tests.pg import pg_schema_url


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InspectionStore]:
    inspections = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    yield inspections
    inspections.close()


@pytest.fixture
def events(store: InspectionStore) -> EventStore:
    return EventStore(store.engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite always; PostgreSQL in a schema of its own (the server is shared) when set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'inspector.db'}"
        return
    yield from pg_schema_url("rc_test")
