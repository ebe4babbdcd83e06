"""Alembic migrations: fresh schema, idempotent upgrade, agreement with tables.py, downgrade."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from inspector.storage.engine import create_engine_for, sqlite_url
from inspector.storage.migrate import alembic_config, current_revision, head_revision, upgrade
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
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


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
