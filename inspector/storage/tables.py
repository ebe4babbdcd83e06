"""SQLAlchemy Core schema of the station database: inspections, process events, station status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so Alembic batch mode on SQLite and PostgreSQL agree on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is stored as UTC and always comes back timezone-aware UTC.

    SQLite has no timezone type: values are stored as naive UTC text (so they sort and
    compare correctly) and get their tzinfo back on read. A naive value is refused,
    because guessing its zone would silently shift a part's record in time.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"datetime {value.isoformat()} must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer, "sqlite")
# JSONB on PostgreSQL so root-cause queries can index and query parameters.
Json = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData(naming_convention=NAMING_CONVENTION)

inspections = Table(
    "inspections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("part_id", String(64), nullable=False, unique=True),
    Column("station_id", String(64), nullable=False),
    Column("serial", String(128), nullable=False),
    Column("serial_source", String(16), nullable=False),
    Column("captured_at", UTCDateTime(), nullable=True),
    Column("inspected_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("label", String(64), nullable=True),
    Column("defect_score", Float, nullable=True),
    Column("anomaly_score", Float, nullable=True),
    Column("scores", Json, nullable=False),
    Column("model_version", String(128), nullable=True),
    Column("threshold_ng", Float, nullable=True),
    Column("threshold_review", Float, nullable=True),
    Column("image_path", String(512), nullable=True),
    Column("heatmap_path", String(512), nullable=True),
    Column("latency_ms", Float, nullable=True),
    Column("error", Text, nullable=True),
    Column("review_label", String(64), nullable=True),
    Column("reviewed_at", UTCDateTime(), nullable=True),
    Index("ix_inspections_serial", "serial"),
    Index("ix_inspections_inspected_at", "inspected_at"),
    Index("ix_inspections_station_id_inspected_at", "station_id", "inspected_at"),
    Index("ix_inspections_verdict_inspected_at", "verdict", "inspected_at"),
)

process_events = Table(
    "process_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("serial", String(128), nullable=False),
    Column("machine", String(64), nullable=False),
    Column("step", String(64), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("parameters", Json, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    UniqueConstraint("serial", "machine", "step", "ts", name="uq_process_event"),
    Index("ix_process_events_serial", "serial"),
    Index("ix_process_events_ts", "ts"),
)

station_status = Table(
    "station_status",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("state", Json, nullable=False),
)
