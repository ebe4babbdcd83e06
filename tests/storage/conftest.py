"""Fixtures for storage tests: inspection factory, SQLite and (optional) PostgreSQL URLs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.pg import pg_schema_url

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

MakeInspection = Callable[..., Inspection]


@pytest.fixture
def make_inspection() -> MakeInspection:
    """Build an Inspection; `i` spaces parts one second apart from T0."""

    def make(i: int = 0, **overrides: object) -> Inspection:
        values: dict[str, object] = {
            "part_id": f"part-{i:05d}",
            "station_id": "st-1",
            "serial": f"SN{i:05d}",
            "serial_source": SerialSource.CODE,
            "captured_at": T0 + timedelta(seconds=i) - timedelta(milliseconds=40),
            "inspected_at": T0 + timedelta(seconds=i),
            "status": Status.OK,
            "verdict": Verdict.OK,
            "label": "good",
            "defect_score": 0.01,
            "scores": {"good": 0.99, "crack": 0.01},
            "model_version": "tile-resnet@abcd1234",
            "threshold_ng": 0.5,
            "threshold_review": 0.2,
            "latency_ms": 12.5,
        }
        values.update(overrides)
        return Inspection(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def sqlite_db_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "data")


def _pg_schema_url() -> Iterator[str]:
    return pg_schema_url()


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _pg_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The same tests on SQLite always and on PostgreSQL when INSPECTOR_TEST_PG_URL is set."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "data")
    else:
        yield from _pg_schema_url()


@pytest.fixture
def sqlite_store(sqlite_db_url: str) -> Iterator[InspectionStore]:
    s = InspectionStore.open(sqlite_db_url)
    yield s
    s.close()


@pytest.fixture
def store(db_url: str) -> Iterator[InspectionStore]:
    s = InspectionStore.open(db_url)
    yield s
    s.close()
