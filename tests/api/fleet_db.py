"""A central database for the fleet tests: SQLite, or a PostgreSQL schema of its own, and rows
of several stations (the registry row is what a station's forwarder would write)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from inspector.storage.tables import stations
from tests.pg import pg_schema_url


def central_url(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database URL: SQLite under `tmp`, or a PostgreSQL schema dropped afterwards
    (the server is shared with other test runs)."""
    if kind == "sqlite":
        yield sqlite_url(tmp)
        return
    yield from pg_schema_url("fleet_test")


def register(store: InspectionStore, station_id: str, last_contact: datetime,
             api_url: str | None = None, lag_rows: int = 0, lag_seconds: float = 0.0) -> None:
    """The registry row a station's forwarder keeps up to date on the central side."""
    with store.engine.begin() as conn:
        conn.execute(stations.insert().values(
            station_id=station_id, api_url=api_url, first_contact_at=last_contact,
            last_contact_at=last_contact, lag_rows=lag_rows, lag_seconds=lag_seconds,
            forwarder={"batch": 500}))
