"""Reading back every row a test station stored (all pages of the store's list)."""

from __future__ import annotations

from pathlib import Path

from inspector.domain import Inspection
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore


def stored_rows(data_dir: Path) -> list[Inspection]:
    """Every inspection in the data folder's SQLite database, newest first."""
    store = InspectionStore.open(sqlite_url(data_dir))
    try:
        rows, cursor = [], None
        while True:
            page, cursor = store.list(limit=1000, cursor=cursor)
            rows += page
            if cursor is None:
                return rows
    finally:
        store.close()
