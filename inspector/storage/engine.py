"""Engine factory: SQLite tuned for a line-side PC (WAL, synchronous=FULL) or PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from inspector.errors import StoreError

logger = logging.getLogger(__name__)

DB_FILE = "inspector.db"
BUSY_TIMEOUT_MS = 10_000  # wait this long for another writer (API, CLI) before failing
# Without it an unreachable PostgreSQL host blocks a connect for the OS TCP timeout (minutes),
# stalling the store thread that should be journaling instead.
PG_CONNECT_TIMEOUT_S = 10

# WAL lets the API read while the station writes; synchronous=FULL fsyncs the WAL on every
# commit, so a part reported committed survives a power cut (NORMAL may lose the last ones).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
)


def sqlite_url(data_dir: str | Path) -> str:
    """The default station database inside a data directory."""
    return f"sqlite:///{Path(data_dir) / DB_FILE}"


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, turning a malformed one into a StoreError."""
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc


def create_engine_for(url: str | URL) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL (no connection is opened yet)."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        connect_args = {}
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
    raise StoreError(
        f"unsupported database {backend!r} in {parsed.render_as_string(hide_password=True)}: "
        "use sqlite:///path/inspector.db or postgresql+psycopg://user@host/db"
    )


def _sqlite_engine(url: URL) -> Engine:
    _make_parent_dir(url)
    engine = create_engine(url)
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def _make_parent_dir(url: URL) -> None:
    database = url.database or ""
    is_uri = url.query.get("uri") == "true" or database.startswith("file:")
    if database in ("", ":memory:") or is_uri:
        return
    parent = Path(database).expanduser().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create database directory {parent}: {exc}") from exc


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()
