"""SQLAlchemy Core schema of the station database: inspections, events, status, keys, audit, rollups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    LargeBinary,
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
    Column("source_ref", String(512), nullable=True),   # file name in a folder source: resume key
    Column("signalled", String(8), nullable=True),      # verdict the fast-path reject output was told
    Column("part_ref", String(128), nullable=True),     # PLC/MES idempotency key
    Column("reviewed_by", String(64), nullable=True),
    Column("review_note", Text, nullable=True),
    UniqueConstraint("station_id", "part_ref", name="uq_inspections_station_id_part_ref"),
    Index("ix_inspections_serial", "serial"),
    Index("ix_inspections_station_id_source_ref", "station_id", "source_ref"),
    Index("ix_inspections_reviewed_at", "reviewed_at"),
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

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=False, unique=True),  # public part of the key
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),                 # viewer | operator | admin
    Column("secret_hash", String(255), nullable=False),         # never the secret itself
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    Column("last_used_at", UTCDateTime(), nullable=True),
)

audit_log = Table(  # append-only: who changed what, before -> after
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("station_id", String(64), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=True),
    Column("before", Json, nullable=True),
    Column("after", Json, nullable=True),
    Index("ix_audit_log_at", "at"),
)

inspection_rollups = Table(  # parts per station, hour and outcome, kept up to date on write
    "inspection_rollups",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),
    Column("verdict", String(8), primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("label", String(64), primary_key=True),  # "" when the part has no label
    Column("no_read", Boolean, primary_key=True),
    Column("parts", Integer, nullable=False),
    Index("ix_inspection_rollups_hour", "hour"),
)

delivery_cursors = Table(  # per result output: inspections.id delivered up to (all before it too)
    "delivery_cursors",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("output", String(64), primary_key=True),
    Column("last_id", Id, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

process_event_revisions = Table(  # earlier versions of events that a corrected re-import replaced
    "process_event_revisions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", Id, nullable=False),         # process_events.id holding the newer version
    Column("serial", String(128), nullable=False),
    Column("machine", String(64), nullable=False),
    Column("step", String(64), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("parameters", Json, nullable=False),      # as this version had them
    Column("received_at", UTCDateTime(), nullable=False),
    Column("replaced_at", UTCDateTime(), nullable=False),
    Index("ix_process_event_revisions_event_id", "event_id"),
    Index("ix_process_event_revisions_serial", "serial"),
)

process_values = Table(  # each event's parameters typed once at ingest: root cause reads no JSON
    "process_values",
    metadata,
    Column("serial", String(128), primary_key=True),
    Column("event_id", Id, primary_key=True, autoincrement=False),  # process_events.id
    Column("name", String(64), primary_key=True),   # the parameter; its key is step.name
    Column("step", String(64), nullable=False),
    Column("machine", String(64), nullable=False),
    Column("ts", UTCDateTime(), nullable=False),
    Column("kind", String(8), nullable=False),      # the JSON type: integer real text boolean json
    Column("num", Float, nullable=True),            # integer and real values
    Column("txt", Text, nullable=True),             # text; 'True'/'False'; JSON of the rest
    Index("ix_process_values_event_id", "event_id"),
    sqlite_with_rowid=False,  # clustered by serial: a window's parts read adjacent rows
)

forward_queue = Table(  # station side: rows still to reach the central database, in order
    "forward_queue",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),     # inspection | event | audit
    Column("key", String(256), nullable=False),     # the row it names (part_id, id, station_id)
    Column("queued_at", UTCDateTime(), nullable=False),
)

forwarding = Table(  # station side: one row while forwarding is on (the queue's triggers exist)
    "forwarding",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("central", String(512), nullable=False),  # the central URL, password hidden
    Column("enabled_at", UTCDateTime(), nullable=False),
)

forwarded_audit = Table(  # central side: station audit ids already stored (audit has no natural key)
    "forwarded_audit",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("source_id", Id, primary_key=True, autoincrement=False),
)

stations = Table(  # central side: each forwarding station, its address and how far behind it is
    "stations",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("api_url", String(512), nullable=True),  # where the central API fetches its images
    Column("first_contact_at", UTCDateTime(), nullable=False),
    Column("last_contact_at", UTCDateTime(), nullable=False),
    Column("lag_rows", Integer, nullable=False),
    Column("lag_seconds", Float, nullable=False),
    Column("forwarder", Json, nullable=False),      # forwarder state: batch size, last error
)

alerts = Table(  # predictive alerts: what a monitor raised and the evidence it rests on
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("raised_at", UTCDateTime(), nullable=False),
    Column("station_id", String(64), nullable=True),     # None: a plant-wide monitor
    Column("monitor", String(32), nullable=False),       # defect_rate | parameter
    Column("subject", String(256), nullable=False),      # the class, or machine + parameter
    Column("defect_class", String(64), nullable=True),   # None: every NG part
    Column("message", Text, nullable=False),
    Column("statistic", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("baseline", Float, nullable=False),           # rate (or mean) it compares with
    Column("current", Float, nullable=False),            # rate (or mean) since the rise began
    Column("parts", Integer, nullable=False),            # parts since the rise began
    Column("defects", Integer, nullable=False),
    Column("first_serial", String(128), nullable=True),  # first part of the rise
    Column("last_serial", String(128), nullable=True),   # the part that raised it
    Column("evidence", Json, nullable=False),            # method, design, counts
    Column("cleared_at", UTCDateTime(), nullable=True),  # the statistic fell back to baseline
    Index("ix_alerts_raised_at", "raised_at"),
    Index("ix_alerts_station_id_raised_at", "station_id", "raised_at"),
)

rootcause_hours = Table(  # per station and UTC hour, a version the triggers of 0009 keep bumping
    "rootcause_hours",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("hour", String(13), primary_key=True),        # 'YYYY-MM-DD HH'
    Column("version", BigInteger, nullable=False),       # + 1 at each write that touches it
    Index("ix_rootcause_hours_hour", "hour"),
)

rootcause_blocks = Table(  # root cause's numpy columns of a closed hour, valid at its version
    "rootcause_blocks",
    metadata,
    Column("station_id", String(64), primary_key=True),
    Column("hour", String(13), primary_key=True),
    Column("version", BigInteger, nullable=False),       # rootcause_hours.version built at
    Column("format", Integer, nullable=False),           # hour_blocks.FORMAT
    Column("main", LargeBinary, nullable=False),         # counts' columns (hour_blocks.to_bytes)
    Column("sequence", LargeBinary, nullable=False),     # change points' columns (the same format)
    Index("ix_rootcause_blocks_hour", "hour"),
)
