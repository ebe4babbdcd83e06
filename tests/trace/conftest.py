"""Fixtures: a fresh migrated SQLite store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[InspectionStore]:
    inspections = InspectionStore.open(f"sqlite:///{tmp_path / 'inspector.db'}")
    yield inspections
    inspections.close()


@pytest.fixture
def events(store: InspectionStore) -> EventStore:
    return EventStore(store.engine)
