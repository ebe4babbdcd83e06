"""Station side of forwarding: the queue's triggers, its switch, its lag and reading a batch."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, text

from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import (
    audit_log,
    forward_queue,
    forwarding,
    inspections,
    process_events,
    station_status,
)

logger = logging.getLogger(__name__)

# kind -> (table, key column, as the queue stores the key)
KINDS: dict[str, tuple[Any, str]] = {
    "inspection": (inspections, "part_id"),
    "event": (process_events, "id"),
    "audit": (audit_log, "id"),
}
# SQLAlchemy reads SQLite DATETIME text with six fractional digits; strftime's %f gives three.
_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"
# One trigger per write that must reach the central side, in the writer's own transaction: every
# writer (station, API, import-events, serve, another process) queues without knowing about it.
TRIGGERS = {
    f"forward_{table}_{op.lower()}": (
        f"CREATE TRIGGER IF NOT EXISTS forward_{table}_{op.lower()} AFTER {op} ON {table} "
        f"BEGIN INSERT INTO forward_queue (kind, key, queued_at) "
        f"VALUES ('{kind}', CAST(NEW.{key} AS TEXT), {_NOW}); END"
    )
    for kind, table, key, op in (
        ("inspection", "inspections", "part_id", "INSERT"),
        ("inspection", "inspections", "part_id", "UPDATE"),   # reviews: re-ship the latest state
        ("event", "process_events", "id", "INSERT"),
        ("event", "process_events", "id", "UPDATE"),          # corrected re-imports
        ("audit", "audit_log", "id", "INSERT"),
    )
}


@dataclass(frozen=True)
class ForwardLag:
    """How far the central database is behind this station (rows queued, age of the oldest)."""

    enabled: bool
    rows: int
    oldest_at: datetime | None
    station_id: str | None = None      # the forwarding station (None: forwarding is off)

    def seconds(self, now: datetime | None = None) -> float:
        if self.oldest_at is None:
            return 0.0
        return max(0.0, ((now or datetime.now(UTC)) - self.oldest_at).total_seconds())


@dataclass(frozen=True)
class Batch:
    """Queue entries (oldest first) and the current rows they name, read from the station."""

    last_seq: int | None                                    # delete through this after shipping
    entries: int = 0
    inspections: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    lag_rows: int = 0                                       # still queued once this batch is in
    lag_oldest_at: datetime | None = None

    @property
    def rows(self) -> int:
        return len(self.inspections) + len(self.events) + len(self.audit)


class ForwardQueue(DatabaseAccess):
    """The forward queue of a station's SQLite database."""

    def enable(self, station_id: str, central: str) -> int:
        """Switch forwarding on (or mend it): triggers in place, and every stored row queued when
        this is the first time, another central database, or the triggers had gone. Returns how
        many rows it queued."""
        self._require_sqlite()
        with self._transaction("switch forwarding on in") as conn:
            # the DML first: pysqlite opens the transaction only at a DML statement, and the
            # triggers and the catch-up must commit together (no write slips between them)
            known = conn.execute(select(forwarding)).mappings().all()
            conn.execute(delete(forwarding))
            conn.execute(forwarding.insert().values(
                station_id=station_id, central=central, enabled_at=datetime.now(UTC)))
            missing = _missing_triggers(conn)
            for name in missing:
                conn.execute(text(TRIGGERS[name]))
            same = [r for r in known if r["central"] == central and r["station_id"] == station_id]
            if same and not missing:
                return 0
            queued = _queue_everything(conn)
        logger.info("forwarding on for %s -> %s: %d stored rows queued", station_id, central, queued)
        return queued

    def disable(self) -> int:
        """Switch forwarding off: no triggers, an empty queue. Returns the rows dropped unsent."""
        with self._transaction("switch forwarding off in") as conn:
            dropped = conn.execute(delete(forward_queue)).rowcount
            conn.execute(delete(forwarding))
            if conn.dialect.name == "sqlite":
                for name in TRIGGERS:
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
        return int(dropped)

    def healthy(self) -> bool:
        """True when forwarding is on and all its triggers exist (a table rebuild drops them)."""
        with self._connection("read the forwarding state of") as conn:
            on = conn.execute(select(forwarding.c.station_id)).first() is not None
            return on and not _missing_triggers(conn)

    def lag(self) -> ForwardLag:
        """Rows still queued and the time the oldest was queued (cheap: one aggregate)."""
        with self._connection("read the forward queue of") as conn:
            station_id = conn.execute(select(forwarding.c.station_id)).scalar()
            rows, oldest = conn.execute(
                select(func.count(), func.min(forward_queue.c.queued_at))).one()
        return ForwardLag(station_id is not None, int(rows), oldest, station_id)

    def read(self, limit: int) -> Batch:
        """The oldest `limit` queue entries and the rows they name, each row once, as it is now.

        A key queued several times (a part, then its review) ships once with its latest state; a
        row that is gone (never in this database any more) ships nothing.
        """
        q = forward_queue.c
        with self._connection("read the forward queue of") as conn:
            entries = conn.execute(
                select(q.seq, q.kind, q.key).order_by(q.seq).limit(limit)).all()
            if not entries:
                return Batch(last_seq=None)
            last = entries[-1].seq
            keys: dict[str, list[str]] = {kind: [] for kind in KINDS}
            for entry in entries:
                if entry.kind not in KINDS:
                    raise StoreError(f"forward queue entry {entry.seq} has unknown kind {entry.kind!r}")
                keys[entry.kind].append(entry.key)
            loaded = {kind: _load(conn, kind, ks) for kind, ks in keys.items()}
            rows_left, oldest = conn.execute(
                select(func.count(), func.min(q.queued_at)).where(q.seq > last)).one()
        return Batch(last, len(entries), loaded["inspection"], loaded["event"], loaded["audit"],
                     int(rows_left), oldest)

    def delete_through(self, last_seq: int) -> None:
        """Forget entries up to `last_seq`: the central database has committed them."""
        with self._transaction("clear shipped rows from the forward queue of") as conn:
            conn.execute(delete(forward_queue).where(forward_queue.c.seq <= last_seq))

    def status_row(self, station_id: str) -> dict[str, Any] | None:
        """The station's published status row, to mirror on the central side."""
        with self._connection("read station status from") as conn:
            row = conn.execute(select(station_status).where(
                station_status.c.station_id == station_id)).mappings().first()
        return dict(row) if row is not None else None

    def _require_sqlite(self) -> None:
        if self._engine.dialect.name != "sqlite":
            raise StoreError(f"forwarding reads a station's SQLite database; {self.url} is "
                             f"{self._engine.dialect.name}: point the station at its SQLite file")


def _missing_triggers(conn: Connection) -> list[str]:
    if conn.dialect.name != "sqlite":
        return list(TRIGGERS)
    present = set(conn.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'forward_%'")).scalars())
    return [name for name in TRIGGERS if name not in present]


def _queue_everything(conn: Connection) -> int:
    """Queue every stored row (idempotent on the central side, so a row queued twice is harmless)."""
    queued = 0
    for kind, (table, key) in KINDS.items():
        result = conn.execute(text(
            f"INSERT INTO forward_queue (kind, key, queued_at) "
            f"SELECT '{kind}', CAST({key} AS TEXT), {_NOW} FROM {table.name} ORDER BY id"))
        queued += max(result.rowcount, 0)
    return queued


def _load(conn: Connection, kind: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Current rows of one kind for the queued keys, in queue order of first appearance."""
    if not keys:
        return []
    table, key = KINDS[kind]
    wanted = list(dict.fromkeys(keys))
    values: list[Any] = wanted if key == "part_id" else [int(k) for k in wanted]
    found: dict[Any, Mapping[str, Any]] = {}
    for start in range(0, len(values), 500):  # under SQLite's bound-parameter limit
        chunk = values[start:start + 500]
        for row in conn.execute(select(table).where(table.c[key].in_(chunk))).mappings():
            found[row[key]] = row
    return [dict(found[v]) for v in values if v in found]
