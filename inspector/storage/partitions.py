"""Monthly partitions of `inspections` on PostgreSQL: created ahead, and dropped for row retention."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from inspector.errors import StoreError
from inspector.storage.rootcause_blocks import forget_hours_before
from inspector.storage.upkeep_thread import UpkeepThread

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3        # partitions kept ready beyond the current month
DEFAULT_PARTITION = "inspections_default"  # the safety net: an insert never lacks a partition
PARTITION_LOCK = 0x1A5EC9  # advisory lock id: one process creates or drops partitions at a time
# Creating, attaching or detaching a partition locks the parent exclusively, and queries queue
# behind a waiting lock: give up soon (upkeep retries hourly, with months of slack ahead).
LOCK_TIMEOUT = "5s"
UPKEEP_EVERY_S = 3600.0
RETENTION_EVERY_S = 86400.0

_NAME = re.compile(r"^inspections_p(\d{4})_(\d{2})$")


@dataclass(frozen=True)
class Partition:
    """One monthly partition: its table name and [start, end) in UTC."""

    name: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RetentionResult:
    """What a retention run removed: whole partitions dropped, rows deleted one by one."""

    cutoff: datetime
    dropped: tuple[str, ...]
    deleted_rows: int

    def to_dict(self) -> dict[str, object]:
        return {"cutoff": self.cutoff.isoformat(), "dropped": list(self.dropped),
                "deleted_rows": self.deleted_rows}


def month_start(at: datetime) -> datetime:
    """The first instant (UTC) of the month `at` falls in."""
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)


def partition_for(start: datetime) -> Partition:
    start = month_start(start)
    return Partition(f"inspections_p{start:%Y_%m}", start, next_month(start))


def is_partitioned(conn: Connection) -> bool:
    """True on PostgreSQL once migration 0007 made `inspections` a partitioned table."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(text("SELECT relkind FROM pg_class WHERE oid = to_regclass('inspections')"))
    return kind.scalar() == "p"


def partitions(conn: Connection) -> list[Partition]:
    """The monthly partitions of `inspections`, oldest first (the DEFAULT one is not listed)."""
    names = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'inspections'::regclass"
    )).scalars()
    found = []
    for name in names:
        match = _NAME.match(name)
        if match:  # named by this module (and migration 0007): the name is the month
            found.append(partition_for(datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda p: p.start)


def ensure_partitions(engine: Engine, months_ahead: int = MONTHS_AHEAD,
                      now: datetime | None = None) -> list[str]:
    """Make sure this month .. `months_ahead` months ahead and the DEFAULT partition exist.

    Returns the partitions created. Rows the DEFAULT partition caught for a month that now gets
    its partition move into it. A no-op (returns []) on SQLite and on an unpartitioned table.
    """
    created: list[str] = []
    if engine.dialect.name != "postgresql":
        return created
    with _maintenance(engine, "create inspection partitions in") as conn:
        if conn is None:
            return created
        have = {p.name for p in partitions(conn)}
        start = month_start(now or datetime.now(UTC))
        for _ in range(months_ahead + 1):
            part = partition_for(start)
            if part.name not in have:
                _create(conn, part)
                created.append(part.name)
            start = part.end
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {DEFAULT_PARTITION} "
                          "PARTITION OF inspections DEFAULT"))
    if created:
        logger.info("created inspection partitions %s", ", ".join(created))
    return created


def apply_retention(engine: Engine, keep_days: int, *, exact: bool = False,
                    now: datetime | None = None) -> RetentionResult:
    """Remove inspections inspected more than `keep_days` days ago; hourly rollups stay.

    Whole monthly partitions older than the cutoff are detached and dropped (no row-by-row
    delete, no table bloat). Rows in the DEFAULT partition older than the cutoff are deleted
    (it only holds strays). The partition the cutoff falls in is kept whole, so rows live up to
    one month longer than `keep_days`, unless `exact` also deletes its older rows: run daily,
    `exact` would turn retention back into deleting a day of rows each day, which is what
    partitions are here to avoid. Refused (StoreError) where `inspections` is not partitioned.
    """
    if keep_days < 1:
        raise StoreError(f"keep_days must be at least 1, got {keep_days}")
    cutoff = (now or datetime.now(UTC)) - timedelta(days=keep_days)
    dropped: list[str] = []
    deleted = 0
    with _maintenance(engine, "apply row retention to") as conn:
        if conn is None:
            # A station's SQLite keeps its rows: some may not have reached the central side yet.
            raise StoreError("row retention is for the central PostgreSQL database, whose "
                             "inspections are partitioned (migration 0007); "
                             f"{engine.url.render_as_string(hide_password=True)} is not")
        for part in partitions(conn):
            if part.end <= cutoff:
                conn.execute(text(f"ALTER TABLE inspections DETACH PARTITION {part.name}"))
                conn.execute(text(f"DROP TABLE {part.name}"))
                dropped.append(part.name)
                dropped_before = part.end
            elif exact and part.start < cutoff:
                deleted += _delete_older(conn, part.name, cutoff)
        if dropped:  # a dropped partition fires no row trigger
            forget_hours_before(conn, dropped_before)
        if conn.execute(text(f"SELECT to_regclass('{DEFAULT_PARTITION}')")).scalar() is not None:
            deleted += _delete_older(conn, DEFAULT_PARTITION, cutoff)
    logger.info("retention (%d days, before %s): dropped %s, deleted %d rows", keep_days,
                cutoff.isoformat(), ", ".join(dropped) or "no partition", deleted)
    return RetentionResult(cutoff, tuple(dropped), deleted)


class PartitionUpkeep(UpkeepThread):
    """A daemon thread for long-running processes: partitions ahead every hour and, when
    `keep_days` is set, retention once a day. Failures are logged and retried next round."""

    def __init__(self, engine: Engine, keep_days: int | None = None,
                 every_s: float = UPKEEP_EVERY_S, retention_every_s: float = RETENTION_EVERY_S
                 ) -> None:
        active = engine.dialect.name == "postgresql"  # SQLite: nothing to maintain
        if keep_days is not None and not active:
            raise StoreError("row retention is for the central PostgreSQL database; "
                             f"{engine.url.render_as_string(hide_password=True)} is not one")
        super().__init__("partition-upkeep", every_s, active)
        self._engine = engine
        self._keep_days = keep_days
        self._retention_every_s = retention_every_s
        self._last_retention: float | None = None
        self._clock = 0.0  # seconds of rounds so far (every_s apart)

    def _round(self) -> None:
        try:
            ensure_partitions(self._engine)
            due = (self._last_retention is None
                   or self._clock - self._last_retention >= self._retention_every_s)
            if self._keep_days is not None and due:
                apply_retention(self._engine, self._keep_days)
                self._last_retention = self._clock
        finally:
            self._clock += self._every_s


@contextmanager
def _maintenance(engine: Engine, action: str) -> Iterator[Connection | None]:
    """One transaction under the partition lock; None where there is nothing to maintain."""
    url = engine.url.render_as_string(hide_password=True)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            yield conn if is_partitioned(conn) else None
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot {action} database {url}: "
                         f"{getattr(exc, 'orig', None) or exc}") from exc


def _create(conn: Connection, part: Partition) -> None:
    """Create one month's partition, first moving any rows DEFAULT caught for that month.

    PostgreSQL refuses a new partition while DEFAULT holds rows of its range, so the rows move
    into a plain table that is then attached (attaching checks the range once).
    """
    bounds = f"FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
    in_range = f"inspected_at >= '{part.start.isoformat()}' AND inspected_at < '{part.end.isoformat()}'"
    has_default = conn.execute(text(f"SELECT to_regclass('{DEFAULT_PARTITION}')")).scalar()
    strays = has_default is not None and conn.execute(text(
        f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} WHERE {in_range})")).scalar()
    if not strays:
        conn.execute(text(f"CREATE TABLE {part.name} PARTITION OF inspections FOR VALUES {bounds}"))
        return
    conn.execute(text(f"CREATE TABLE {part.name} (LIKE inspections INCLUDING DEFAULTS)"))
    conn.execute(text(f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {in_range} "
                      f"RETURNING *) INSERT INTO {part.name} SELECT * FROM moved"))
    conn.execute(text(f"ALTER TABLE inspections ATTACH PARTITION {part.name} FOR VALUES {bounds}"))
    logger.info("moved rows of %s out of the default partition", part.start.strftime("%Y-%m"))


def _delete_older(conn: Connection, table: str, cutoff: datetime) -> int:
    """Delete one partition's rows older than the cutoff (the rollups keep counting them)."""
    result = conn.execute(text(f"DELETE FROM {table} WHERE inspected_at < :cutoff"),
                          {"cutoff": cutoff})
    return int(result.rowcount)
