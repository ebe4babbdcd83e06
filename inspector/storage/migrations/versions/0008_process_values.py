"""process_values: every event's parameters typed once (number or text), backfilled in SQL.

Root cause read the parameters by parsing each window's JSON per query (json_each, jsonb_each:
most of its time at 1M parts). From here on ingest types them once, in the transaction that
stores the event; this revision creates the table and types every event already stored, in the
database (no rows through Python).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies at this revision (inspector/storage/values.py fills the table later on).
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MISSING = ("'', '#n/a', '#n/a n/a', '#na', '-1.#ind', '-1.#qnan', '-nan', '1.#ind', '1.#qnan', "
           "'<na>', 'n/a', 'na', 'null', 'nan', 'none'")
COLUMNS = "serial, event_id, name, step, machine, ts, kind, num, txt"
SQLITE_FILL = (
    "SELECT e.serial, e.id, j.key, e.step, e.machine, e.ts, CASE j.type WHEN 'integer' "
    "THEN 'integer' WHEN 'real' THEN 'real' WHEN 'text' THEN 'text' WHEN 'true' THEN "
    "'boolean' WHEN 'false' THEN 'boolean' ELSE 'json' END, CASE WHEN j.type IN "
    "('integer', 'real') THEN j.value END, CASE j.type WHEN 'text' THEN j.value WHEN 'true' "
    "THEN 'True' WHEN 'false' THEN 'False' WHEN 'object' THEN j.value WHEN 'array' THEN "
    "j.value END FROM process_events e, json_each(e.parameters) j "
    f"WHERE j.type <> 'null' AND NOT (j.type = 'text' AND lower(trim(j.value)) IN ({MISSING}))")
PG_FILL = (
    "SELECT e.serial, e.id, j.key, e.step, e.machine, e.ts, CASE jsonb_typeof(j.value) WHEN "
    "'number' THEN CASE WHEN j.value #>> '{}' ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END "
    "WHEN 'string' THEN 'text' WHEN 'boolean' THEN 'boolean' ELSE 'json' END, CASE WHEN "
    "jsonb_typeof(j.value) = 'number' THEN (j.value #>> '{}')::float8 END, CASE "
    "jsonb_typeof(j.value) WHEN 'string' THEN j.value #>> '{}' WHEN 'boolean' THEN CASE WHEN "
    "j.value = 'true'::jsonb THEN 'True' ELSE 'False' END WHEN 'object' THEN j.value::text "
    "WHEN 'array' THEN j.value::text END FROM process_events e, jsonb_each(e.parameters) j "
    "WHERE jsonb_typeof(j.value) <> 'null' AND NOT (jsonb_typeof(j.value) = 'string' AND "
    f"lower(trim(j.value #>> '{{}}')) IN ({MISSING}))")


def upgrade() -> None:
    op.create_table(
        "process_values",
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("event_id", ID, nullable=False, autoincrement=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("machine", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("num", sa.Float(), nullable=True),
        sa.Column("txt", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("serial", "event_id", "name", name="pk_process_values"),
        sqlite_with_rowid=False,
    )
    pg = op.get_bind().dialect.name == "postgresql"
    op.execute(f"INSERT INTO process_values ({COLUMNS}) {PG_FILL if pg else SQLITE_FILL}")
    # after the backfill: one index build instead of an update per row
    op.create_index("ix_process_values_event_id", "process_values", ["event_id"])
    if pg:
        op.execute("ANALYZE process_values")


def downgrade() -> None:
    op.drop_index("ix_process_values_event_id", table_name="process_values")
    op.drop_table("process_values")
