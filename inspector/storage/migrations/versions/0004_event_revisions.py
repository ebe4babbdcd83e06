"""Event revisions: the earlier versions of process events that a corrected re-import replaced.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-21 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types at this revision: a migration must not change with tables.py.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "process_event_revisions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", ID, nullable=False),  # process_events.id that holds the newer version
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("machine", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_process_event_revisions"),
    )
    op.create_index("ix_process_event_revisions_event_id", "process_event_revisions", ["event_id"])
    op.create_index("ix_process_event_revisions_serial", "process_event_revisions", ["serial"])


def downgrade() -> None:
    op.drop_table("process_event_revisions")
