"""InspectionStore: one row per inspected part in SQLite or PostgreSQL, plus station status."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, and_, func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from inspector.domain import Inspection, Verdict
from inspector.errors import StoreError
from inspector.storage import rollups
from inspector.storage import rows as rowmap
from inspector.storage.access import DatabaseAccess
from inspector.storage.engine import create_engine_for
from inspector.storage.filters import InspectionFilter, aware
from inspector.storage.migrate import upgrade
from inspector.storage.tables import inspections
from inspector.storage.tables import station_status as status_table

logger = logging.getLogger(__name__)

MAX_PAGE = 1000  # largest page list() returns: bounds memory per API request


@dataclass(frozen=True)
class StationStatus:
    """The last state a station published, and when."""

    station_id: str
    updated_at: datetime
    state: dict[str, Any]


class InspectionStore(DatabaseAccess):
    """Durable inspection records. Thread-safe: every call takes its own pooled connection."""

    def __init__(self, engine: Engine, *, owns_engine: bool = False) -> None:
        super().__init__(engine)
        self._owns_engine = owns_engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> InspectionStore:
        """Create the engine for `url` and bring the schema to the newest revision."""
        engine = create_engine_for(url)
        try:
            if migrate:
                upgrade(engine)
                _rebuild_rollups_if_missing(engine)
        except StoreError:
            engine.dispose()
            raise
        return cls(engine, owns_engine=True)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for other storage modules (event tables, outbox)."""
        return self._engine

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    # --- writing -------------------------------------------------------------------------

    def write(self, rows: Sequence[Inspection]) -> int:
        """Insert a batch in one transaction; parts already stored are skipped.

        Returns how many rows were newly inserted. Raises InvalidInspection (a StoreError)
        before touching the database when a row cannot be stored, and StoreError when the
        database cannot be written (the caller journals the batch and retries later).
        """
        if not rows:
            return 0
        values = [rowmap.to_row(r) for r in rows]
        # RETURNING counts the rows really inserted: executemany rowcount is unreliable
        # across drivers (psycopg reports -1 for batched inserts).
        # Any unique key: a part id stored before, or a PLC part reference this station already
        # has a row for (a retried trigger after a restart is the same part, not a second one).
        stmt = (
            self._insert(inspections)
            .on_conflict_do_nothing()
            .returning(*(inspections.c[name] for name in rollups.KEY_COLUMNS))
        )
        with self._transaction(f"write {len(values)} inspections to") as conn:
            inserted = conn.execute(stmt, values).mappings().all()
            rollups.add_rows(conn, inserted)  # same transaction: rollups never drift from rows
            return len(inserted)

    def set_review_label(self, part_id: str, label: str | None) -> bool:
        """Record a human reviewer's label (None clears it); False when the part is unknown."""
        if label is not None and len(label) > 64:
            raise StoreError(f"review label is {len(label)} characters, at most 64")
        reviewed_at = datetime.now(UTC) if label is not None else None
        stmt = (
            update(inspections)
            .where(inspections.c.part_id == part_id)
            .values(review_label=label, reviewed_at=reviewed_at)
        )
        with self._transaction("set a review label in") as conn:
            return conn.execute(stmt).rowcount > 0

    def set_station_status(self, station_id: str, state: dict[str, Any]) -> None:
        """Replace the station's published state (metrics, camera status, disk problem)."""
        _check_json(state)
        values = {"station_id": station_id, "updated_at": datetime.now(UTC), "state": state}
        stmt = self._insert(status_table).values(values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["station_id"],
            set_={"updated_at": stmt.excluded.updated_at, "state": stmt.excluded.state},
        )
        with self._transaction("publish station status to") as conn:
            conn.execute(stmt)

    # --- reading -------------------------------------------------------------------------

    def get(self, part_id: str) -> Inspection | None:
        rows = self._fetch(select(inspections).where(inspections.c.part_id == part_id))
        return rows[0] if rows else None

    def by_serial(self, serial: str, station_id: str | None = None) -> list[Inspection]:
        """Every inspection of one serial (at one station when `station_id` is given), oldest
        first (a part may be inspected again)."""
        stmt = (
            select(inspections)
            .where(inspections.c.serial == serial)
            .order_by(inspections.c.inspected_at, inspections.c.id)
        )
        if station_id is not None:
            stmt = stmt.where(inspections.c.station_id == station_id)
        return self._fetch(stmt)

    def list(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        verdict: Verdict | str | None = None,
        station_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        *,
        where: InspectionFilter | None = None,
    ) -> tuple[list[Inspection], str | None]:
        """One page of inspections, newest first, and the cursor of the next page (or None).

        `where` holds every filter (serial, label, review state...); the plain arguments,
        when given, replace its fields. `since` is inclusive and `until` exclusive. The
        cursor is opaque: pass it back unchanged with the same filters.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        plain = {"since": since, "until": until, "verdict": verdict, "station_id": station_id}
        where = replace(where or InspectionFilter(), **{k: v for k, v in plain.items() if v is not None})
        cols = inspections.c
        stmt = select(inspections).where(*where.clauses())
        if cursor is not None:
            at, last_id = decode_cursor(cursor)
            stmt = stmt.where(
                or_(cols.inspected_at < at, and_(cols.inspected_at == at, cols.id < last_id))
            )
        stmt = stmt.order_by(cols.inspected_at.desc(), cols.id.desc()).limit(limit + 1)
        with self._connection("list inspections from") as conn:
            fetched = conn.execute(stmt).mappings().all()
        page = fetched[:limit]
        next_cursor = None
        if len(fetched) > limit:
            next_cursor = encode_cursor(page[-1]["inspected_at"], page[-1]["id"])
        return [rowmap.from_row(r) for r in page], next_cursor

    def pages(self, where: InspectionFilter, size: int = MAX_PAGE) -> Iterator[list[Inspection]]:
        """Every matching inspection, newest first, one keyset page at a time (constant memory).

        Each page is its own short read, so a long export never holds a connection or a
        snapshot open between pages.
        """
        cursor: str | None = None
        while True:
            page, cursor = self.list(limit=size, cursor=cursor, where=where)
            if page:
                yield page
            if cursor is None:
                return

    def counts(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        station_id: str | None = None,
    ) -> dict[str, int]:
        """Number of parts per verdict ("OK", "REVIEW", "NG"; zero when none)."""
        stmt = (
            select(inspections.c.verdict, func.count())
            .where(*self._filters(since, until, None, station_id))
            .group_by(inspections.c.verdict)
        )
        result = {v.value: 0 for v in Verdict}
        with self._connection("count inspections in") as conn:
            for verdict, count in conn.execute(stmt):
                result[verdict] = int(count)
        return result

    def station_status(self, station_id: str) -> dict[str, Any] | None:
        """The state last published by `station_id`, None if it never published."""
        status = self._statuses(status_table.c.station_id == station_id)
        return status[0].state if status else None

    def station_statuses(self) -> list[StationStatus]:
        """Every station's last published state with its time, for an overview."""
        return self._statuses()

    # --- helpers -------------------------------------------------------------------------

    def _filters(
        self,
        since: datetime | None,
        until: datetime | None,
        verdict: Verdict | str | None,
        station_id: str | None,
    ) -> list[Any]:
        return InspectionFilter(since, until, station_id, verdict=verdict).clauses()

    def _fetch(self, stmt: Select[Any]) -> list[Inspection]:
        with self._connection("read inspections from") as conn:
            return [rowmap.from_row(r) for r in conn.execute(stmt).mappings()]

    def _statuses(self, *where: Any) -> list[StationStatus]:
        stmt = select(status_table).where(*where).order_by(status_table.c.station_id)
        with self._connection("read station status from") as conn:
            return [StationStatus(**dict(r)) for r in conn.execute(stmt).mappings()]



def encode_cursor(inspected_at: datetime, row_id: int) -> str:
    """An opaque page cursor: the sort key of the last row of the previous page."""
    raw = json.dumps([inspected_at.astimezone(UTC).isoformat(), int(row_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, row_id = json.loads(raw)
        return aware("cursor", datetime.fromisoformat(at)), int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise StoreError(f"invalid page cursor {cursor!r}") from exc


def _rebuild_rollups_if_missing(engine: Engine) -> None:
    """Rows stored before the rollup table existed get their buckets once, at open."""
    try:
        if rollups.needs_rebuild(engine):
            rollups.rebuild_rollups(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot rebuild the hourly rollups: {exc}") from exc


def _check_json(state: Any) -> None:
    if not isinstance(state, dict):
        raise StoreError(f"station state must be a dict, got {type(state).__name__}")
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"station state is not plain JSON: {exc}") from exc
