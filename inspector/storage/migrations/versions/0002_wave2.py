"""Wave 2 schema: trust columns, idempotent triggers, reviews, API keys, audit log, hourly rollups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types at this revision: a migration must not change when tables.py does.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

_INSPECTION_COLUMNS = (
    # The input's name in its source (a folder's file name): a restart continues after it.
    ("source_ref", sa.String(512)),
    # What the fast-path reject output was told (the verdict), journaled before it was sent.
    ("signalled", sa.String(8)),
    # A PLC/MES part reference (idempotency key): a retried trigger returns the same part.
    ("part_ref", sa.String(128)),
    ("reviewed_by", sa.String(64)),
    ("review_note", sa.Text()),
)


def _ts(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("inspections") as batch:
        for name, type_ in _INSPECTION_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
        batch.create_unique_constraint("uq_inspections_station_id_part_ref", ["station_id", "part_ref"])
    op.create_index("ix_inspections_station_id_source_ref", "inspections", ["station_id", "source_ref"])
    op.create_index("ix_inspections_reviewed_at", "inspections", ["reviewed_at"])

    op.create_table(
        "api_keys",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=False),
        _ts("created_at", nullable=False),
        _ts("revoked_at", nullable=True),
        _ts("last_used_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_id", name="uq_api_keys_key_id"),
    )

    op.create_table(
        "audit_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _ts("at", nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(256), nullable=True),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])

    op.create_table(
        "inspection_rollups",
        sa.Column("station_id", sa.String(64), nullable=False),
        _ts("hour", nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("no_read", sa.Boolean(), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "hour", "verdict", "status", "label", "no_read",
                                name="pk_inspection_rollups"),
    )
    op.create_index("ix_inspection_rollups_hour", "inspection_rollups", ["hour"])


def downgrade() -> None:
    op.drop_index("ix_inspection_rollups_hour", table_name="inspection_rollups")
    op.drop_table("inspection_rollups")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_inspections_reviewed_at", table_name="inspections")
    op.drop_index("ix_inspections_station_id_source_ref", table_name="inspections")
    with op.batch_alter_table("inspections") as batch:
        batch.drop_constraint("uq_inspections_station_id_part_ref", type_="unique")
        for name, _ in reversed(_INSPECTION_COLUMNS):
            batch.drop_column(name)
