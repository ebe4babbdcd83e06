"""Delivery cursors: how far each result output (MQTT, OPC UA) has delivered a station's rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-20 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the id type at this revision: a migration must not change when tables.py does.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_cursors",
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("output", sa.String(64), nullable=False),
        # inspections.id of the newest row delivered with every row before it delivered too
        sa.Column("last_id", ID, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", "output", name="pk_delivery_cursors"),
    )


def downgrade() -> None:
    op.drop_table("delivery_cursors")
