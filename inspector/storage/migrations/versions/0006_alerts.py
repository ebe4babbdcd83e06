"""Predictive alerts: what a defect-rate or parameter monitor raised, and the evidence it rests on.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types at this revision: a migration must not change with tables.py.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),     # None: a plant-wide monitor
        sa.Column("monitor", sa.String(32), nullable=False),       # defect_rate | parameter
        sa.Column("subject", sa.String(256), nullable=False),      # class, or machine parameter
        sa.Column("defect_class", sa.String(64), nullable=True),   # None: every NG part
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("statistic", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),         # rate (or mean) it compares with
        sa.Column("current", sa.Float(), nullable=False),          # rate (or mean) since it rose
        sa.Column("parts", sa.Integer(), nullable=False),          # parts since the rise began
        sa.Column("defects", sa.Integer(), nullable=False),
        sa.Column("first_serial", sa.String(128), nullable=True),  # first part of the rise
        sa.Column("last_serial", sa.String(128), nullable=True),   # the part that raised it
        sa.Column("evidence", JSON, nullable=False),               # method, design, counts
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),  # back to baseline
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index("ix_alerts_raised_at", "alerts", ["raised_at"])
    op.create_index("ix_alerts_station_id_raised_at", "alerts", ["station_id", "raised_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_station_id_raised_at", table_name="alerts")
    op.drop_index("ix_alerts_raised_at", table_name="alerts")
    op.drop_table("alerts")
