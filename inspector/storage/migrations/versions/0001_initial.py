"""Initial schema: inspections, process_events, station_status.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types at this revision: a migration must not change when tables.py does.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inspections",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("part_id", sa.String(64), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("serial_source", sa.String(16), nullable=False),
        _ts("captured_at", nullable=True),
        _ts("inspected_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("defect_score", sa.Float(), nullable=True),
        sa.Column("anomaly_score", sa.Float(), nullable=True),
        sa.Column("scores", JSON, nullable=False),
        sa.Column("model_version", sa.String(128), nullable=True),
        sa.Column("threshold_ng", sa.Float(), nullable=True),
        sa.Column("threshold_review", sa.Float(), nullable=True),
        sa.Column("image_path", sa.String(512), nullable=True),
        sa.Column("heatmap_path", sa.String(512), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("review_label", sa.String(64), nullable=True),
        _ts("reviewed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inspections"),
        sa.UniqueConstraint("part_id", name="uq_inspections_part_id"),
    )
    op.create_index("ix_inspections_serial", "inspections", ["serial"])
    op.create_index("ix_inspections_inspected_at", "inspections", ["inspected_at"])
    op.create_index(
        "ix_inspections_station_id_inspected_at", "inspections", ["station_id", "inspected_at"]
    )
    op.create_index(
        "ix_inspections_verdict_inspected_at", "inspections", ["verdict", "inspected_at"]
    )

    op.create_table(
        "process_events",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("serial", sa.String(128), nullable=False),
        sa.Column("machine", sa.String(64), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        _ts("ts", nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        _ts("received_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_process_events"),
        sa.UniqueConstraint("serial", "machine", "step", "ts", name="uq_process_event"),
    )
    op.create_index("ix_process_events_serial", "process_events", ["serial"])
    op.create_index("ix_process_events_ts", "process_events", ["ts"])

    op.create_table(
        "station_status",
        sa.Column("station_id", sa.String(64), nullable=False),
        _ts("updated_at", nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_station_status"),
    )


def downgrade() -> None:
    op.drop_table("station_status")
    op.drop_index("ix_process_events_ts", table_name="process_events")
    op.drop_index("ix_process_events_serial", table_name="process_events")
    op.drop_table("process_events")
    for name in (
        "ix_inspections_verdict_inspected_at",
        "ix_inspections_station_id_inspected_at",
        "ix_inspections_inspected_at",
        "ix_inspections_serial",
    ):
        op.drop_index(name, table_name="inspections")
    op.drop_table("inspections")
