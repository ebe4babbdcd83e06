"""EventStore: upstream process events by serial, and the joins the trace package queries."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, func, select

from inspector.domain import Status
from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import inspections, process_events

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


class EventFacts(NamedTuple):
    """Machine, step and parameters of one event, for analytics (a tuple: cheap by the 100k)."""

    serial: str
    machine: str
    step: str
    parameters: Mapping[str, Any]


class EventStore(DatabaseAccess):
    """Process events in the station database (the tables InspectionStore migrates)."""

    def insert(self, events: Sequence[ProcessEvent], received_at: datetime | None = None) -> int:
        """Store events in one transaction; those already stored (same key) are skipped.

        Returns how many rows were new. All or nothing: a database error stores none.
        """
        if not events:
            return 0
        now = received_at or datetime.now(UTC)
        rows = [_row(e, now) for e in events]
        stmt = (
            self._insert(process_events)
            .on_conflict_do_nothing(index_elements=list(EVENT_KEY))
            .returning(process_events.c.id)
        )
        inserted = 0
        with self._transaction(f"store {len(rows)} process events in") as conn:
            for start in range(0, len(rows), INSERT_CHUNK):
                inserted += len(conn.execute(stmt, rows[start:start + INSERT_CHUNK]).all())
        return inserted

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

    def outcomes(self, since: datetime, until: datetime) -> list[PartOutcome]:
        """Inspected parts (status ok) with since <= inspected_at < until, oldest first."""
        cols = inspections.c
        stmt = (
            select(cols.serial, cols.inspected_at, cols.verdict, cols.label, cols.review_label)
            .where(*_window(since, until), cols.status == Status.OK.value)
            .order_by(cols.inspected_at, cols.id)
        )
        with self._connection("read inspections from") as conn:
            return [PartOutcome(**r) for r in conn.execute(stmt).mappings()]

    def facts(self, since: datetime, until: datetime) -> list[EventFacts]:
        """Events of every part inspected (status ok) in the window, joined on serial, by time."""
        cols = inspections.c
        serials = select(cols.serial).where(*_window(since, until), cols.status == Status.OK.value)
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



def _window(since: datetime, until: datetime) -> list[Any]:
    for name, value in (("since", since), ("until", until)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise StoreError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return [inspections.c.inspected_at >= since, inspections.c.inspected_at < until]


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
