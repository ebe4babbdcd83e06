"""Hourly rollups: parts per station, hour and outcome, added in the writer's own transaction."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, String, cast, exists, func, literal, select, text

from inspector.domain import SerialSource
from inspector.storage.access import INSERTS
from inspector.storage.tables import inspection_rollups as rollups
from inspector.storage.tables import inspections

logger = logging.getLogger(__name__)

NO_READ = SerialSource.NO_READ.value
# The inspection columns a rollup key is made of: write() asks RETURNING for exactly these.
KEY_COLUMNS = ("station_id", "inspected_at", "verdict", "status", "label", "serial_source")
# SQLAlchemy's text form of a SQLite DATETIME, cut to the hour: rebuilt keys equal written ones.
_SQLITE_HOUR = "%Y-%m-%d %H:00:00.000000"

RollupKey = tuple[str, datetime, str, str, str, bool]


def hour_of(at: datetime) -> datetime:
    """The UTC hour a time falls in (its rollup bucket)."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def rollup_key(row: Mapping[str, Any]) -> RollupKey:
    """(station_id, hour, verdict, status, label or "", no_read) of one inserted row."""
    return (row["station_id"], hour_of(row["inspected_at"]), row["verdict"], row["status"],
            row["label"] or "", row["serial_source"] == NO_READ)


def add_rows(conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
    """Count newly inserted rows into their buckets (upsert parts = parts + n); buckets touched.

    Call inside the transaction that inserted the rows, so rollups and rows commit together.
    """
    counts = Counter(rollup_key(r) for r in rows)
    if not counts:
        return 0
    names = ("station_id", "hour", "verdict", "status", "label", "no_read")
    values = [dict(zip(names, key, strict=True), parts=n) for key, n in sorted(counts.items())]
    insert = INSERTS[conn.dialect.name](rollups)
    stmt = insert.on_conflict_do_update(
        index_elements=list(names), set_={"parts": rollups.c.parts + insert.excluded.parts}
    )
    conn.execute(stmt, values)  # sorted keys: concurrent writers lock buckets in one order
    return len(values)


def rebuild_rollups(engine: Engine) -> int:
    """Fill an empty rollup table from the inspections (rows stored before the table existed).

    Does nothing when the table already has buckets. Returns the buckets it holds afterwards.
    Safe beside concurrent writers: PostgreSQL locks the rollup table first (a writer's upsert
    waits, and its uncommitted row is not counted twice); SQLite runs one statement.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("LOCK TABLE inspection_rollups IN EXCLUSIVE MODE"))
        conn.execute(_rebuild_statement(conn.dialect.name))
        # counted, not rowcount: psycopg reports -1 for INSERT ... SELECT
        held = conn.execute(select(func.count()).select_from(rollups)).scalar_one()
    logger.info("hourly rollups rebuilt from the inspections table: %d buckets", held)
    return held


def needs_rebuild(engine: Engine) -> bool:
    """True when there are inspections but no rollup bucket (cheap: two indexed lookups)."""
    with engine.connect() as conn:
        has_rows = conn.execute(select(inspections.c.id).limit(1)).first() is not None
        has_buckets = conn.execute(select(rollups.c.parts).limit(1)).first() is not None
    return has_rows and not has_buckets


def _rebuild_statement(dialect: str) -> Any:
    """INSERT INTO rollups SELECT ... GROUP BY ..., only while the rollup table is empty."""
    cols = inspections.c
    if dialect == "sqlite":
        hour: Any = func.strftime(_SQLITE_HOUR, cols.inspected_at)
    else:
        # via UTC wall-clock time: date_trunc on timestamptz would cut in the session's zone
        hour = func.timezone("UTC", func.date_trunc("hour", func.timezone("UTC", cols.inspected_at)))
    label = func.coalesce(cols.label, cast(literal(""), String))
    no_read = cols.serial_source == NO_READ
    keys = (cols.station_id, hour, cols.verdict, cols.status, label, no_read)
    grouped = (
        select(*keys, func.count())
        .where(~exists().select_from(rollups))
        .group_by(*keys)
    )
    names = ["station_id", "hour", "verdict", "status", "label", "no_read", "parts"]
    return rollups.insert().from_select(names, grouped)
