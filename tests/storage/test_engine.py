"""Engine factory: SQLite pragmas for durability, parent directory, URL validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for, sqlite_url


def _pragma(engine: Engine, name: str) -> object:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_sqlite_url_points_into_data_dir(tmp_path: Path) -> None:
    assert sqlite_url(tmp_path) == f"sqlite:///{tmp_path}/inspector.db"


def test_sqlite_engine_is_durable_wal(tmp_path: Path) -> None:
    engine = create_engine_for(sqlite_url(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()  # parent created before the first connect
    assert _pragma(engine, "journal_mode") == "wal"
    assert _pragma(engine, "synchronous") == 2  # FULL
    assert _pragma(engine, "foreign_keys") == 1
    assert int(_pragma(engine, "busy_timeout")) > 0
    engine.dispose()


def test_postgres_url_passes_through_without_connecting() -> None:
    engine = create_engine_for("postgresql+psycopg://u@127.0.0.1:1/db")
    assert engine.dialect.name == "postgresql"
    assert engine.pool._pre_ping
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_or_malformed_url_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match="database"):
        create_engine_for(url)


def test_unwritable_parent_directory_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create database directory"):
        create_engine_for(sqlite_url(blocker / "data"))
