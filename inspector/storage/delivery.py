"""Delivery cursors of the result outputs, and the rows after a cursor in insertion order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, select, update

from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.engine import create_engine_for
from inspector.storage.migrate import upgrade
from inspector.storage.rows import from_row
from inspector.storage.tables import delivery_cursors, inspections

# Built once: a result output runs these many times a second, and a prebuilt statement skips
# SQLAlchemy's per-call construction (its compiled form is cached).
_IDS_AFTER = (select(inspections.c.id, inspections.c.part_id)
              .where(inspections.c.station_id == bindparam("station_id"),
                     inspections.c.id > bindparam("after_id"))
              .order_by(inspections.c.id).limit(bindparam("limit")))
_ROWS_BY_ID = select(inspections).where(inspections.c.station_id == bindparam("station_id"),
                                        inspections.c.id.in_(bindparam("ids", expanding=True)))


class DeliveryStore(DatabaseAccess):
    """What a result output has delivered (its cursor: an inspections.id) and what is left.

    Rows are delivered in insertion order (inspections.id); the cursor is the id of the newest
    row delivered with every row before it delivered too. Thread-safe (pooled connections).
    """

    @classmethod
    def open(cls, url: str) -> DeliveryStore:
        """Its own engine on the station database (schema brought to the newest revision)."""
        engine = create_engine_for(url)
        try:
            upgrade(engine)
        except StoreError:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    def cursor(self, station_id: str, output: str) -> int | None:
        """The output's cursor, None when it never delivered anything."""
        c = delivery_cursors.c
        stmt = select(c.last_id).where(c.station_id == station_id, c.output == output)
        with self._connection("read a delivery cursor from") as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def save_cursor(self, station_id: str, output: str, last_id: int) -> None:
        """Store the cursor (insert the first time, update after)."""
        c = delivery_cursors.c
        now = datetime.now(UTC)
        with self._transaction("save a delivery cursor in") as conn:
            done = conn.execute(update(delivery_cursors)
                                .where(c.station_id == station_id, c.output == output)
                                .values(last_id=last_id, updated_at=now))
            if done.rowcount == 0:
                conn.execute(self._insert(delivery_cursors).values(
                    station_id=station_id, output=output, last_id=last_id, updated_at=now
                ).on_conflict_do_nothing())

    def last_id(self, station_id: str, before: datetime | None = None) -> int:
        """The newest row's id for the station (inspected before `before`; 0 when none)."""
        c = inspections.c
        stmt = select(func.max(c.id)).where(c.station_id == station_id)
        if before is not None:
            stmt = stmt.where(c.inspected_at < before)
        with self._connection("read the newest row from") as conn:
            return int(conn.execute(stmt).scalar_one_or_none() or 0)

    def rows_after(self, station_id: str, after_id: int, limit: int) -> list[tuple[int, Inspection]]:
        """Up to `limit` of the station's rows with id > after_id, oldest first, with their ids."""
        c = inspections.c
        stmt = (select(inspections).where(c.station_id == station_id, c.id > after_id)
                .order_by(c.id).limit(limit))
        with self._connection("read undelivered rows from") as conn:
            return [(row.id, from_row(row._mapping)) for row in conn.execute(stmt)]

    def ids_after(self, station_id: str, after_id: int, limit: int) -> list[tuple[int, str]]:
        """Up to `limit` (id, part_id) of the station's rows with id > after_id, oldest first:
        what to send next, without reading whole rows."""
        with self._connection("read undelivered row ids from") as conn:
            result = conn.execute(_IDS_AFTER, {"station_id": station_id, "after_id": after_id,
                                               "limit": limit})
            return [(row_id, part_id) for row_id, part_id in result]

    def rows_by_id(self, station_id: str, ids: Sequence[int]) -> dict[int, Inspection]:
        """The station's rows with these ids (those that exist), by id."""
        with self._connection("read undelivered rows from") as conn:
            result = conn.execute(_ROWS_BY_ID, {"station_id": station_id, "ids": list(ids)})
            return {row.id: from_row(row._mapping) for row in result}

    def result(self, station_id: str, key: str) -> tuple[int, Inspection] | None:
        """The station's stored row whose part id, or else whose part_ref, is `key` (with its id)."""
        c = inspections.c
        with self._connection("read a result from") as conn:
            for where in (c.part_id == key, c.part_ref == key):
                row = conn.execute(select(inspections).where(c.station_id == station_id, where)
                                   .limit(1)).first()
                if row is not None:
                    return row.id, from_row(row._mapping)
        return None

    def count_after(self, station_id: str, after_id: int) -> int:
        """How many of the station's rows lie after the cursor (the output's backlog)."""
        c = inspections.c
        stmt = select(func.count()).select_from(inspections).where(
            c.station_id == station_id, c.id > after_id)
        with self._connection("count undelivered rows in") as conn:
            return int(conn.execute(stmt).scalar_one())
