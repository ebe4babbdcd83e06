"""A central database for the fleet tests: SQLite, or a PostgreSQL schema of its own, and rows
of several stations (the registry row is what a station's forwarder would write)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from inspector.storage.tables import stations

PG_ENV = "INSPECTOR_TEST_PG_URL"


def central_url(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh database URL: SQLite under `tmp`, or a PostgreSQL schema dropped afterwards
    (the server is shared with other test runs)."""
    if kind == "sqlite":
        yield sqlite_url(tmp)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    schema = f"fleet_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def register(store: InspectionStore, station_id: str, last_contact: datetime,
             api_url: str | None = None, lag_rows: int = 0, lag_seconds: float = 0.0) -> None:
    """The registry row a station's forwarder keeps up to date on the central side."""
    with store.engine.begin() as conn:
        conn.execute(stations.insert().values(
            station_id=station_id, api_url=api_url, first_contact_at=last_contact,
            last_contact_at=last_contact, lag_rows=lag_rows, lag_seconds=lag_seconds,
            forwarder={"batch": 500}))
