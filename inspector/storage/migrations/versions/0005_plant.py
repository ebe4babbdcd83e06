"""Plant scale: the forward queue and its switch (station side), the stations registry and the
audit entries already forwarded (central side).

The queue's SQLite triggers are not created here: the forwarder creates them when it is
switched on (`inspector/storage/forward_queue.py`), so a database that never forwards has none,
and a later table rebuild that drops them is noticed and mended by the forwarder.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the column types at this revision: a migration must not change with tables.py.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Station side: what still has to reach the central database, in the order it happened.
    op.create_table(
        "forward_queue",
        sa.Column("seq", ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),   # inspection | event | audit
        sa.Column("key", sa.String(256), nullable=False),   # the row it names (part_id, id, ...)
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_forward_queue"),
    )
    # Station side: present while forwarding is on (one row: which central, since when).
    op.create_table(
        "forwarding",
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("central", sa.String(512), nullable=False),  # password-less central URL
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("station_id", name="pk_forwarding"),
    )
    # Central side: audit entries have no natural key, so a re-shipped one is known by the
    # station's own id for it.
    op.create_table(
        "forwarded_audit",
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("station_id", "source_id", name="pk_forwarded_audit"),
    )
    # Central side: every station that has forwarded, where it answers and how far behind it is.
    op.create_table(
        "stations",
        sa.Column("station_id", sa.String(64), nullable=False),
        sa.Column("api_url", sa.String(512), nullable=True),
        sa.Column("first_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_contact_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lag_rows", sa.Integer(), nullable=False),
        sa.Column("lag_seconds", sa.Float(), nullable=False),
        sa.Column("forwarder", JSON, nullable=False),        # forwarder version, batch, errors
        sa.PrimaryKeyConstraint("station_id", name="pk_stations"),
    )


def downgrade() -> None:
    op.drop_table("stations")
    op.drop_table("forwarded_audit")
    op.drop_table("forwarding")
    op.drop_table("forward_queue")
