"""Run the Alembic migrations programmatically (no alembic.ini): `upgrade(engine_or_url)`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for
from inspector.storage.partitions import ensure_partitions

try:  # POSIX only; elsewhere concurrent first starts are simply not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PG_MIGRATION_LOCK = 0x1A5EC7  # advisory lock id: one migrating process at a time per database


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config built in code, pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Bring the database schema up to `revision`; a no-op when it is already there."""
    owned = not isinstance(engine_or_url, Engine)
    engine = create_engine_for(engine_or_url) if owned else engine_or_url
    try:
        with _sqlite_file_lock(engine), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
            command.upgrade(alembic_config(conn), revision)
        _ensure_partitions(engine)
    except SQLAlchemyError as exc:
        url = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot migrate database {url}: {exc}") from exc
    except CommandError as exc:
        raise _newer_database(engine, exc) from exc
    finally:
        if owned:
            engine.dispose()


def _ensure_partitions(engine: Engine) -> None:
    """Partitions for this month and the next ones before anything writes (PostgreSQL only):
    every store open and forwarder start passes here. Not fatal: the DEFAULT partition takes
    the rows meanwhile, and the central service's upkeep tries again every hour."""
    try:
        ensure_partitions(engine)
    except StoreError as exc:
        logger.warning("partitions ahead not created (retried later): %s", exc)


def _newer_database(engine: Engine, exc: CommandError) -> StoreError:
    """The clear error for a database that a newer Inspector migrated past this code's head."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        at = current_revision(engine)
    except SQLAlchemyError:
        at = None
    if at is None:
        return StoreError(f"cannot migrate database {url}: {exc}")
    return StoreError(
        f"database {url} is at schema revision {at}, newer than this Inspector knows (its newest "
        f"is {head_revision()}): a newer Inspector upgraded it. Run that version, or restore the "
        "backup taken before the upgrade (docs/operations.md)")


@contextlib.contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (station and API start together).

    SQLite DDL through pysqlite is not transactional, so two first starts could otherwise
    both see an empty database and both try to create the tables.
    """
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or fcntl is None or database in ("", ":memory:"):
        yield
        return
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
    lock_path = Path(database + ".migrate-lock")
    try:
        handle = open(lock_path, "a+b")  # noqa: SIM115 - held across the yield
    except OSError:
        yield  # e.g. read-only directory: nothing to migrate there anyway, let Alembic decide
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
