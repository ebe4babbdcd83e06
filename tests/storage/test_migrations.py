"""Alembic migrations: fresh schema, idempotent upgrade, agreement with tables.py, downgrade."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import UniqueConstraint, inspect, text

from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for, sqlite_url
from inspector.storage.migrate import alembic_config, current_revision, head_revision, upgrade
from inspector.storage.store import InspectionStore
from inspector.storage.tables import metadata

TABLES = {"inspections", "process_events", "station_status"}


def test_upgrade_creates_schema_on_fresh_sqlite_file(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh")
    upgrade(url)
    engine = create_engine_for(url)
    insp = inspect(engine)
    assert set(insp.get_table_names()) >= TABLES
    index_names = {ix["name"] for ix in insp.get_indexes("inspections")}
    assert {
        "ix_inspections_serial",
        "ix_inspections_inspected_at",
        "ix_inspections_station_id_inspected_at",
        "ix_inspections_verdict_inspected_at",
    } <= index_names
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("process_events")}
    assert uniques["uq_process_event"] == ["serial", "machine", "step", "ts"]
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_upgrade_is_idempotent(db_url: str) -> None:
    upgrade(db_url)
    upgrade(db_url)
    engine = create_engine_for(db_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_migrations_match_tables_module(db_url: str) -> None:
    """The migration and tables.py describe the same schema (no autogenerate diff)."""
    engine = create_engine_for(db_url)
    upgrade(engine)
    with engine.connect() as conn:
        partitions = (set(conn.execute(text(PARTITIONS)).scalars())
                      if conn.dialect.name == "postgresql" else set())
        # A partition is a physical piece of `inspections` (PostgreSQL only), not a table of its own.
        opts = {"include_name": lambda name, kind, _parent: not (kind == "table"
                                                                   and name in partitions)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)
    engine.dispose()
    assert _logical(diff) == []


# The partitions of tables in the connection's schema (none on SQLite).
PARTITIONS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
              "WHERE c.relnamespace = current_schema()::regnamespace")


def _logical(diff: list) -> list:
    """The diff without what partitioning must change on PostgreSQL (migration 0007).

    PostgreSQL requires every unique key of a partitioned table to hold the partition key, so
    `inspections`' uniques there are tables.py's plus inspected_at (a BEFORE INSERT trigger keeps
    the narrower guarantee). A remove/add pair differing only by that column is not a drift.
    """
    def cols(entry: tuple) -> tuple[str, ...]:
        return tuple(c.name for c in entry[1].columns)

    uniques = [e for e in diff if e[0] in ("add_constraint", "remove_constraint")
               and isinstance(e[1], UniqueConstraint) and e[1].table.name == "inspections"]
    added = {cols(e) for e in uniques if e[0] == "add_constraint"}
    removed = {cols(e) for e in uniques if e[0] == "remove_constraint"}
    widened = {c for c in added if (*c, "inspected_at") in removed}
    ignored = widened | {(*c, "inspected_at") for c in widened}
    return [e for e in diff if not (e in uniques and cols(e) in ignored)]


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = create_engine_for(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_concurrent_first_starts_do_not_collide(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []


def test_a_database_a_newer_inspector_upgraded_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    upgrade(url)
    engine = create_engine_for(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match=r"revision 9999, newer than this Inspector knows"):
        InspectionStore.open(url)
    engine.dispose()
