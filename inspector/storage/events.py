"""EventStore: upstream process events by serial, and the joins the trace package queries."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, Text, bindparam, cast, func, select, update

from inspector.domain import Status
from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import inspections, process_event_revisions, process_events
from inspector.storage.values import fill_values

logger = logging.getLogger(__name__)

EVENT_KEY = ("serial", "machine", "step", "ts")   # the idempotency key of an event
INSERT_CHUNK = 5_000   # rows per INSERT statement; one transaction per insert() call


@dataclass(frozen=True)
class ProcessEvent:
    """One thing a machine did to a part before the camera saw it (validated, UTC)."""

    serial: str
    machine: str
    step: str
    ts: datetime                                          # timezone-aware UTC
    parameters: Mapping[str, float | int | str] = field(default_factory=dict)
    received_at: datetime | None = None                   # set by the store on insert


@dataclass(frozen=True)
class PartOutcome:
    """The inspection result of one part in a root-cause window."""

    serial: str
    inspected_at: datetime
    verdict: str
    label: str | None
    review_label: str | None


@dataclass(frozen=True)
class EventWrite:
    """What insert did: events new to the store, and stored events replaced by a correction."""

    stored: int = 0
    revised: int = 0


@dataclass(frozen=True)
class EventRevision:
    """An earlier version of an event, replaced by a corrected re-import at `replaced_at`."""

    event_id: int
    parameters: Mapping[str, Any]
    received_at: datetime
    replaced_at: datetime


@dataclass(frozen=True)
class History:
    """Inspected parts (status ok) in the whole store: how many, first and last time."""

    parts: int
    first: datetime | None
    last: datetime | None


class EventFacts(NamedTuple):
    """Machine, step and parameters of one event, for analytics (a tuple: cheap by the 100k)."""

    serial: str
    machine: str
    step: str
    parameters: Mapping[str, Any]


class EventStore(DatabaseAccess):
    """Process events in the station database (the tables InspectionStore migrates)."""

    def insert(self, events: Sequence[ProcessEvent], received_at: datetime | None = None) -> int:
        """Store events in one transaction; returns how many rows were new (see write)."""
        return self.write(events, received_at).stored

    def write(self, events: Sequence[ProcessEvent], received_at: datetime | None = None) -> EventWrite:
        """Store events in one transaction. An event already stored (same serial, machine, step,
        timestamp) is skipped when its parameters are the same, and replaces the stored one when
        they differ (a correction); the replaced version is kept in process_event_revisions.

        All or nothing: a database error stores none.
        """
        if not events:
            return EventWrite()
        now = received_at or datetime.now(UTC)
        rows = [_row(e, now) for e in events]
        cols = process_events.c
        stmt = (
            self._insert(process_events)
            .on_conflict_do_nothing(index_elements=list(EVENT_KEY))
            .returning(cols.id, *(cols[k] for k in EVENT_KEY))
        )
        stored = revised = 0
        with self._transaction(f"store {len(rows)} process events in") as conn:
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start:start + INSERT_CHUNK]
                inserted = conn.execute(stmt, chunk).all()
                new = {tuple(r[1:]) for r in inserted}
                stored += len(new)
                fill_values(conn, [r[0] for r in inserted])
                changed = _revise(conn, _known(chunk, new), now)
                fill_values(conn, changed, replace=True)
                revised += len(changed)
        return EventWrite(stored, revised)

    def revisions(self, serial: str) -> list[EventRevision]:
        """Replaced versions of a serial's events, oldest replacement first."""
        cols = process_event_revisions.c
        stmt = (select(cols.event_id, cols.parameters, cols.received_at, cols.replaced_at)
                .where(cols.serial == serial).order_by(cols.replaced_at, cols.id))
        with self._connection("read event revisions from") as conn:
            return [EventRevision(**r) for r in conn.execute(stmt).mappings()]

    def history(self, station_id: str | None = None) -> History:
        """How many parts were inspected (status ok) in the whole store (or at one station), and
        when."""
        cols = inspections.c
        stmt = (select(func.count(), func.min(cols.inspected_at), func.max(cols.inspected_at))
                .where(cols.status == Status.OK.value, *_station(station_id)))
        with self._connection("read inspections from") as conn:
            parts, first, last = conn.execute(stmt).one()  # min/max keep the column's UTC type
        return History(int(parts), first, last)

    def for_serial(self, serial: str) -> list[ProcessEvent]:
        """All events of one serial, oldest first."""
        cols = process_events.c
        stmt = select(process_events).where(cols.serial == serial).order_by(cols.ts, cols.id)
        with self._connection("read process events from") as conn:
            return [_event(r) for r in conn.execute(stmt).mappings()]

    def count(self) -> int:
        """Number of stored events."""
        with self._connection("count process events in") as conn:
            return int(conn.execute(select(func.count()).select_from(process_events)).scalar_one())

    @property
    def engine(self) -> Engine:
        """The engine (root cause reads its hour blocks from this database: rootcause_blocks)."""
        return self._engine

    def outcomes(self, since: datetime, until: datetime,
                 station_id: str | None = None) -> list[PartOutcome]:
        """Inspected parts (status ok) with since <= inspected_at < until (at one station when
        `station_id` is given), oldest first."""
        cols = inspections.c
        stmt = (
            select(cols.serial, cols.inspected_at, cols.verdict, cols.label, cols.review_label)
            .where(*_window(since, until), cols.status == Status.OK.value, *_station(station_id))
            .order_by(cols.inspected_at, cols.id)
        )
        with self._connection("read inspections from") as conn:
            return [PartOutcome(**r) for r in conn.execute(stmt).mappings()]

    def facts(self, since: datetime, until: datetime,
              station_id: str | None = None) -> list[EventFacts]:
        """Events of every part inspected (status ok) in the window (at one station when
        `station_id` is given), joined on serial, by time."""
        cols = inspections.c
        serials = select(cols.serial).where(*_window(since, until), cols.status == Status.OK.value,
                                            *_station(station_id))
        ev = process_events.c
        # parameters as text, decoded below in one json.loads: per-row decoding and row
        # mappings cost more than the query itself at 100k events
        stmt = (
            select(ev.serial, ev.machine, ev.step, cast(ev.parameters, Text))
            .where(ev.serial.in_(serials))
            .order_by(ev.ts, ev.id)
        )
        with self._connection("read process events from") as conn:
            rows = conn.execute(stmt).all()
        params = json.loads("[" + ",".join(r[3] for r in rows) + "]") if rows else []
        return [EventFacts(r[0], r[1], r[2], p) for r, p in zip(rows, params, strict=True)]



def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in EVENT_KEY)


def _known(chunk: list[dict[str, Any]], new: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows of a chunk that were not inserted (the first of each new key was)."""
    first_seen: set[tuple[Any, ...]] = set()
    known = []
    for row in chunk:
        key = _key(row)
        if key in new and key not in first_seen:
            first_seen.add(key)
        else:
            known.append(row)
    return known


def _revise(conn: Any, known: list[dict[str, Any]], now: datetime) -> list[int]:
    """Replace stored events whose parameters differ from `known`; keep the old as revisions.
    Returns the ids of the events replaced."""
    if not known:
        return []
    cols = process_events.c
    stmt = (select(cols.id, *(cols[k] for k in EVENT_KEY), cols.parameters, cols.received_at)
            .where(cols.serial.in_({r["serial"] for r in known})))
    current = {_key(r): dict(r) for r in conn.execute(stmt).mappings()}
    old_versions, updates = [], []
    for row in known:
        stored = current.get(_key(row))
        if stored is None or stored["parameters"] == row["parameters"]:
            continue  # the same event again
        old_versions.append({**{k: stored[k] for k in (*EVENT_KEY, "parameters", "received_at")},
                             "event_id": stored["id"], "replaced_at": now})
        updates.append({"b_id": stored["id"], "b_parameters": row["parameters"], "b_at": now})
        stored.update(parameters=row["parameters"], received_at=now)
    if updates:
        conn.execute(process_event_revisions.insert(), old_versions)
        conn.execute(update(process_events).where(cols.id == bindparam("b_id")).values(
            parameters=bindparam("b_parameters"), received_at=bindparam("b_at")), updates)
        logger.info("replaced %d corrected events (earlier versions kept as revisions)",
                    len(updates))
    return [u["b_id"] for u in updates]


def _window(since: datetime, until: datetime) -> list[Any]:
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise StoreError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return [inspections.c.inspected_at >= since, inspections.c.inspected_at < until]


def _station(station_id: str | None) -> list[Any]:
    """The condition "inspected at this station" (none when `station_id` is None)."""
    return [] if station_id is None else [inspections.c.station_id == station_id]


def _row(event: ProcessEvent, received_at: datetime) -> dict[str, Any]:
    return {
        "serial": event.serial, "machine": event.machine, "step": event.step, "ts": event.ts,
        "parameters": dict(event.parameters), "received_at": received_at,
    }


def _event(row: Mapping[str, Any]) -> ProcessEvent:
    return ProcessEvent(
        serial=row["serial"], machine=row["machine"], step=row["step"], ts=row["ts"],
        parameters=dict(row["parameters"] or {}), received_at=row["received_at"],
    )
