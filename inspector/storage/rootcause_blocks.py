"""Root-cause hour blocks in the database: built from one station-hour's rows, cached while valid."""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from inspector.domain import Status
from inspector.storage.access import DatabaseAccess
from inspector.storage.events import _window
from inspector.storage.hour_blocks import (
    FORMAT,
    Columns,
    HourBlock,
    build_block,
    from_bytes,
    to_bytes,
)
from inspector.storage.tables import rootcause_blocks

logger = logging.getLogger(__name__)
T = TypeVar("T")

HOUR_FORMAT = "%Y-%m-%d %H"
HOUR = timedelta(hours=1)
SAVE_EVERY = 24  # blocks built and cached in one transaction (a cold month builds hundreds)


def hour_key(at: datetime) -> str:
    """The UTC hour a time falls in, as the blocks are keyed: 'YYYY-MM-DD HH'."""
    return at.astimezone(UTC).strftime(HOUR_FORMAT)


# A cached block that still holds for its hour (h: rootcause_hours, b: rootcause_blocks).
_CURRENT_BLOCK = ("b.station_id = h.station_id AND b.hour = h.hour AND b.version = h.version AND "
                  f"b.format = {FORMAT}")


def forget_hours_before(conn, before: datetime) -> None:
    """What the write triggers would do for rows dropped without them (a detached partition):
    the hours' versions bumped, so a block being built now is stale, and their blocks dropped."""
    hour = {"h": hour_key(before)}
    conn.execute(text("UPDATE rootcause_hours SET version = version + 1 WHERE hour < :h"), hour)
    _drop_blocks_before(conn, hour["h"])


def _drop_blocks_before(conn, hour: str) -> int:
    return conn.execute(text("DELETE FROM rootcause_blocks WHERE hour < :h"), {"h": hour}).rowcount


def hour_start(key: str) -> datetime:
    return datetime.strptime(key, HOUR_FORMAT).replace(tzinfo=UTC)


class HourBlocks(DatabaseAccess):
    """Reads the blocks of a window: cached ones whose version still holds, the rest built from
    the rows (and cached when their hour is over)."""

    def read(self, since: datetime, until: datetime, station_id: str | None) -> list[HourBlock]:
        """The blocks of every (station, hour) that overlaps since <= t < until, without their
        sequence columns (see load_sequences)."""
        _window(since, until)  # timezone-aware, or a clear error
        first, last = hour_key(since), hour_key(until - timedelta(microseconds=1))
        params: dict[str, Any] = {"first": first, "last": last}
        where = "h.hour >= :first AND h.hour <= :last"
        if station_id is not None:
            where += " AND h.station_id = :station"
            params["station"] = station_id
        closed = hour_key(datetime.now(UTC))  # hours before this one are over
        pending: list[HourBlock] = []
        with self._connection("read root-cause hour blocks from") as conn:
            # each hour's version with the cached block that still holds for it, in one read: a
            # write after it makes any block built below stale
            hours = _fetch(conn, f"SELECT h.station_id, h.hour, h.version, b.main FROM "
                           f"rootcause_hours h LEFT JOIN rootcause_blocks b ON {_CURRENT_BLOCK} "
                           f"WHERE {where} ORDER BY h.hour, h.station_id", params)
            blocks = []
            for station, hour, version, main in hours:
                block = None if main is None else _decoded(main)
                if block is None:
                    block = build(conn, station, hour)
                    if hour < closed:
                        pending.append(block)
                block.key = (station, hour, int(version))
                blocks.append(block)
                if len(pending) >= SAVE_EVERY:
                    self._save(pending)
                    pending = []
        self._save(pending)
        return blocks

    def stale(self, since: datetime) -> list[tuple[str, str]]:
        """(station, hour) of the hours over since `since` whose cached block is missing or
        stale, newest first."""
        with self._connection("list root-cause hour blocks in") as conn:
            return [(s, h) for s, h in _fetch(
                conn, f"SELECT h.station_id, h.hour FROM rootcause_hours h LEFT JOIN "
                f"rootcause_blocks b ON {_CURRENT_BLOCK} WHERE h.hour >= :first AND "
                "h.hour < :closed AND b.hour IS NULL ORDER BY h.hour DESC, h.station_id",
                {"first": hour_key(since), "closed": hour_key(datetime.now(UTC))})]

    def prune(self, before: datetime) -> int:
        """Drop the cached blocks of hours before `before` (a query over them builds them
        again); the number dropped."""
        with self._transaction("prune root-cause hour blocks in") as conn:
            return _drop_blocks_before(conn, hour_key(before))

    def build_and_cache(self, station: str, hour: str) -> None:
        """Build one station-hour's block at its current version and cache it."""
        with self._connection("build a root-cause hour block in") as conn:
            found = _fetch(conn, "SELECT version FROM rootcause_hours WHERE station_id = "
                           ":station AND hour = :hour", {"station": station, "hour": hour})
            block = build(conn, station, hour)
        block.key = (station, hour, int(found[0][0]) if found else 0)
        self._save([block])

    def load_sequences(self, blocks: list[HourBlock]) -> None:
        """Give each block its sequence columns (the change-point search's): the cached ones are
        read here; a block rebuilt since under a newer version gives the newer events."""
        wanted = [b for b in blocks if b.sequence is None]
        if not wanted:
            return
        keys = {b.key[:2] for b in wanted}
        stations = {k[0] for k in keys}
        params = {"first": min(k[1] for k in keys), "last": max(k[1] for k in keys),
                  "station": min(stations)}
        one = " AND station_id = :station" if len(stations) == 1 else ""
        with self._connection("read root-cause hour blocks from") as conn:
            found = {(s, h): (v, data) for s, h, v, data in _fetch(
                conn, "SELECT station_id, hour, version, sequence FROM rootcause_blocks WHERE "
                f"hour >= :first AND hour <= :last AND format = {FORMAT}{one}", params)
                if (s, h) in keys}
            for block in wanted:
                hit = found.get(block.key[:2])
                cached = _sequence(hit[1]) if hit is not None and hit[0] >= block.key[2] else None
                # evicted, rebuilt since or damaged: the rows as they are now
                block.sequence = cached if cached is not None else build(conn, *block.key[:2]).sequence

    def _save(self, blocks: list[HourBlock]) -> None:
        """Cache built blocks of hours that are over. A database this process may not write
        to (a read-only replica) only costs the next query the same build."""
        if not blocks:
            return
        rows = [{"station_id": s, "hour": h, "version": v, "format": FORMAT,
                 "main": to_bytes(b.main), "sequence": to_bytes(b.sequence or {})}
                for b in blocks for s, h, v in [b.key]]
        insert = self._insert(rootcause_blocks)
        stmt = insert.on_conflict_do_update(  # never over a block of a newer version
            index_elements=["station_id", "hour"],
            set_={c: insert.excluded[c] for c in ("version", "format", "main", "sequence")},
            where=rootcause_blocks.c.version <= insert.excluded.version)
        try:
            with self._engine.begin() as conn:
                conn.execute(stmt, rows)
        except SQLAlchemyError as exc:
            logger.warning("root-cause hour blocks not cached (%s): %s", self.url, exc)
            return
        for block in blocks:  # read back only if change points are searched: memory stays low
            block.sequence = None


def _readable(data: bytes, read: Callable[[Columns], T], what: str) -> T | None:
    """A cached blob's columns as `read` makes them, or None where the blob is damaged (the
    caller builds it again from the rows, and a later save caches over it)."""
    try:
        return read(from_bytes(bytes(data)))
    except (ValueError, KeyError, struct.error) as exc:
        logger.warning("a cached root-cause hour block%s could not be read (%s): rebuilt", what, exc)
        return None


def _decoded(data: bytes) -> HourBlock | None:
    return _readable(data, HourBlock, "")


def _sequence(data: bytes) -> Columns | None:
    return _readable(data, lambda columns: columns, "'s sequences")


def new_hours(conn: Connection) -> None:
    """Give every (station, hour) holding inspections a new version: for rows written with the
    triggers off (a bulk load with session_replication_role = replica), whose hours the
    triggers could not record. Cached blocks of those hours become stale."""
    pg = conn.dialect.name == "postgresql"
    hour = ("to_char(inspected_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')" if pg
            else "substr(inspected_at, 1, 13)")
    conn.execute(text(f"INSERT INTO rootcause_hours (station_id, hour, version) SELECT "
                      f"station_id, {hour}, 1 FROM inspections WHERE true GROUP BY 1, 2 "
                      "ON CONFLICT (station_id, hour) DO UPDATE SET version = "
                      "rootcause_hours.version + 1"))


def build(conn: Connection, station: str, hour: str) -> HourBlock:
    """One station-hour's block from its rows: status-ok inspections, and the events and typed
    values of their serials."""
    pg = conn.dialect.name == "postgresql"
    start = hour_start(hour)
    params = {"station": station, "ok": Status.OK.value,
              "a": _bind(start, pg), "b": _bind(start + HOUR, pg)}
    where = ("station_id = :station AND inspected_at >= :a AND inspected_at < :b "
             "AND status = :ok")
    parts = f"(SELECT DISTINCT serial FROM inspections WHERE {where}) p"
    join = "JOIN" if pg else "CROSS JOIN"  # SQLite: the hour's serials drive the index lookups
    inspections = _fetch(conn, f"SELECT id, serial, {_micros('inspected_at', pg)}, verdict, "
                         f"label, review_label FROM inspections WHERE {where}", params)
    events = _fetch(conn, f"SELECT e.serial, e.id, {_micros('e.ts', pg)}, e.machine, e.step "
                    f"FROM {parts} {join} process_events e ON e.serial = p.serial", params)
    values = _fetch(conn, "SELECT v.serial, v.event_id, v.step || '.' || v.name, v.kind, v.num, "
                    f"v.txt FROM {parts} {join} process_values v ON v.serial = p.serial", params)
    if not pg:  # SQLite keeps times as text: to microseconds in one numpy conversion
        inspections = _with_micros(inspections, 2)
        events = _with_micros(events, 2)
    return build_block(inspections, events, values)


def _bind(at: datetime, pg: bool) -> Any:
    # SQLite compares the stored text: bind the same text form
    return at if pg else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _micros(column: str, pg: bool) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)" if pg else column


def _with_micros(rows: list[tuple], at: int) -> list[tuple]:
    if not rows:
        return rows
    micros = np.array([r[at] for r in rows], dtype="datetime64[us]").astype(np.int64).tolist()
    return [(*r[:at], m, *r[at + 1:]) for r, m in zip(rows, micros, strict=True)]


def _fetch(conn: Connection, sql: str, params: dict) -> list[tuple]:
    """Rows through the driver's own cursor (SQLAlchemy's row objects cost more than the query
    at tens of thousands of rows); :name parameters."""
    if conn.dialect.name == "postgresql":
        sql = re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall()
    finally:
        cursor.close()
