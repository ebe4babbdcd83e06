"""PostgreSQL: inspections partitioned by month of inspected_at (a no-op on SQLite).

Declarative RANGE partitioning, one partition per calendar month (UTC) plus a DEFAULT partition,
so that retention drops a month instead of deleting rows and a one-day query reads one
partition. Monthly, not weekly: a serial or part-id lookup has no time bound and visits every
partition, so the partition count is its cost; a year is 12 monthly partitions (52 weekly),
and a month is fine-grained enough for quality records kept for months or years.

A unique constraint on a partitioned table must hold the partition key, so the keys become
(id, inspected_at), (part_id, inspected_at) and (station_id, part_ref, inspected_at). What they
no longer guarantee on their own (a part id, or a PLC part_ref of one station, stored once
whatever its inspection time: a retried trigger gets a new time) a BEFORE INSERT trigger keeps:
it skips a row whose part_id, or whose station's part_ref, is already stored, like ON CONFLICT
DO NOTHING. It holds a per-station advisory lock while it checks a part_ref, so two concurrent
writers of the same station cannot both see "not stored yet".

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen at this revision (inspector/storage/partitions.py maintains the same layout later on).
MONTHS_AHEAD = 3
DEFAULT_PARTITION = "inspections_default"
PART_REF_LOCK = 0x1A5EC8  # advisory lock namespace: one station's part_ref checks at a time

INDEXES = (
    ("ix_inspections_serial", "serial"),
    ("ix_inspections_station_id_source_ref", "station_id, source_ref"),
    ("ix_inspections_reviewed_at", "reviewed_at"),
    ("ix_inspections_inspected_at", "inspected_at"),
    ("ix_inspections_station_id_inspected_at", "station_id, inspected_at"),
    ("ix_inspections_verdict_inspected_at", "verdict, inspected_at"),
)

ONCE_FUNCTION = f"""
CREATE FUNCTION inspections_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.part_ref IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock({PART_REF_LOCK}, hashtext(NEW.station_id));
        IF EXISTS (SELECT 1 FROM inspections
                   WHERE station_id = NEW.station_id AND part_ref = NEW.part_ref) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF EXISTS (SELECT 1 FROM inspections WHERE part_id = NEW.part_id) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return  # SQLite has no partitions: a station's table stays as it is
    sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence('inspections', 'id')")).scalar()
    op.execute("CREATE TABLE inspections_partitioned (LIKE inspections INCLUDING DEFAULTS) "
               "PARTITION BY RANGE (inspected_at)")
    for start in _months_to_create(conn):
        _create_month(start)
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF inspections_partitioned DEFAULT")
    # Rows first, keys and indexes after: one index build instead of row-by-row maintenance.
    op.execute("INSERT INTO inspections_partitioned SELECT * FROM inspections")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")  # it outlives the old table
    op.execute("DROP TABLE inspections")
    op.execute("ALTER TABLE inspections_partitioned RENAME TO inspections")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY inspections.id")
    _keys_and_indexes(partition_key=", inspected_at")
    op.execute(ONCE_FUNCTION)
    op.execute("CREATE TRIGGER inspections_once BEFORE INSERT ON inspections "
                "FOR EACH ROW EXECUTE FUNCTION inspections_once()")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence('inspections', 'id')")).scalar()
    op.execute("CREATE TABLE inspections_plain (LIKE inspections INCLUDING DEFAULTS)")
    op.execute("INSERT INTO inspections_plain SELECT * FROM inspections")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")
    op.execute("DROP TABLE inspections")  # its partitions and trigger go with it
    op.execute("DROP FUNCTION inspections_once()")
    op.execute("ALTER TABLE inspections_plain RENAME TO inspections")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY inspections.id")
    _keys_and_indexes(partition_key="")


def _keys_and_indexes(partition_key: str) -> None:
    op.execute(f"ALTER TABLE inspections ADD CONSTRAINT pk_inspections "
               f"PRIMARY KEY (id{partition_key})")
    op.execute(f"ALTER TABLE inspections ADD CONSTRAINT uq_inspections_part_id "
               f"UNIQUE (part_id{partition_key})")
    op.execute(f"ALTER TABLE inspections ADD CONSTRAINT uq_inspections_station_id_part_ref "
               f"UNIQUE (station_id, part_ref{partition_key})")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON inspections ({columns})")


def _months_to_create(conn: sa.Connection) -> list[datetime]:
    """Months that hold rows, and this month .. MONTHS_AHEAD ahead; other times go to DEFAULT.

    Only months with rows: one row with a wildly wrong clock must not create decades of
    empty partitions.
    """
    held = conn.execute(sa.text(
        "SELECT DISTINCT date_trunc('month', inspected_at AT TIME ZONE 'UTC') FROM inspections"
    )).scalars()
    months = {m.replace(tzinfo=UTC) for m in held}
    now = datetime.now(UTC)
    year, month = now.year, now.month
    for _ in range(MONTHS_AHEAD + 1):
        months.add(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(months)


def _create_month(start: datetime) -> None:
    end = datetime(start.year + 1, 1, 1, tzinfo=UTC) if start.month == 12 else \
        datetime(start.year, start.month + 1, 1, tzinfo=UTC)
    op.execute(f"CREATE TABLE inspections_p{start:%Y_%m} PARTITION OF inspections_partitioned "
               f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")
