"""Central side of forwarding: store one station batch idempotently, rollups and station row."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Text, and_, bindparam, cast, insert, or_, update

from inspector.storage import rollups
from inspector.storage.access import INSERTS
from inspector.storage.forward_queue import Batch
from inspector.storage.tables import (
    audit_log,
    forwarded_audit,
    inspections,
    process_events,
    station_status,
    stations,
)
from inspector.storage.values import fill_values

EVENT_KEY = ("serial", "machine", "step", "ts")
# What changes on a station after a row is first stored: its review. A re-shipped row carries
# it forward when it is newer than the central copy's (a part may be reviewed centrally too; a
# re-queue of everything must not wipe that); the judged columns never change.
REVIEW = ("review_label", "reviewed_by", "reviewed_at", "review_note")


@dataclass(frozen=True)
class Contact:
    """What the station tells the central side about itself with every batch or heartbeat."""

    station_id: str
    api_url: str | None
    lag_rows: int
    lag_seconds: float
    forwarder: Mapping[str, Any]
    status: Mapping[str, Any] | None = None   # the station_status row, when it changed


@dataclass(frozen=True)
class Stored:
    """What one batch did centrally: inspections new, reviews carried over, events, audit."""

    inspections: int = 0
    refreshed: int = 0
    events: int = 0
    audit: int = 0


def store_batch(conn: Connection, batch: Batch, contact: Contact) -> Stored:
    """Write a batch and the station's contact in the caller's (central) transaction.

    Idempotent: an inspection is known by its part id (and inspected_at, which a partitioned
    table's keys include; a re-shipped row has the same one), an event by its natural key, an
    audit entry by (station, the station's id for it). Rollups count only rows new here.
    """
    new, refreshed = _inspections(conn, batch.inspections)
    stored = Stored(new, refreshed, _events(conn, batch.events),
                    _audit(conn, contact.station_id, batch.audit))
    record_contact(conn, contact)
    return stored


def record_contact(conn: Connection, contact: Contact) -> None:
    """Upsert the stations row (and mirror the status row): a heartbeat is just this."""
    now = datetime.now(UTC)
    insert_ = INSERTS[conn.dialect.name]
    values = {"station_id": contact.station_id, "api_url": contact.api_url,
              "first_contact_at": now, "last_contact_at": now, "lag_rows": contact.lag_rows,
              "lag_seconds": contact.lag_seconds, "forwarder": dict(contact.forwarder)}
    stmt = insert_(stations).values(values)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["station_id"],
        set_={k: stmt.excluded[k] for k in values if k not in ("station_id", "first_contact_at")}))
    if contact.status is not None:
        status = {k: contact.status[k] for k in ("station_id", "updated_at", "state")}
        stmt = insert_(station_status).values(status)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["station_id"],
            set_={"updated_at": stmt.excluded.updated_at, "state": stmt.excluded.state},
            where=station_status.c.updated_at <= stmt.excluded.updated_at))


def _inspections(conn: Connection, rows: list[dict[str, Any]]) -> tuple[int, int]:
    if not rows:
        return 0, 0
    values = [{k: v for k, v in r.items() if k != "id"} for r in rows]  # central ids are its own
    # no conflict target: the part id's unique key, or (part_id, inspected_at) where the table is
    # partitioned by time; either way a row already stored is skipped
    stmt = (INSERTS[conn.dialect.name](inspections).on_conflict_do_nothing()
            .returning(inspections.c.part_id,
                       *(inspections.c[name] for name in rollups.KEY_COLUMNS)))
    inserted = conn.execute(stmt, values).mappings().all()
    rollups.add_rows(conn, inserted)  # same transaction: a re-shipped row is never counted twice
    new = {r["part_id"] for r in inserted}
    reviewed = [{"b_part_id": r["part_id"], "b_inspected_at": r["inspected_at"],
                 **{f"b_{k}": r[k] for k in REVIEW}}
                for r in values if r["part_id"] not in new and r["reviewed_at"] is not None]
    refreshed = 0
    if reviewed:
        c = inspections.c
        at = bindparam("b_reviewed_at", type_=c.reviewed_at.type)
        result = conn.execute(
            update(inspections)
            .where(and_(c.part_id == bindparam("b_part_id"),
                        c.inspected_at == bindparam("b_inspected_at", type_=c.inspected_at.type),
                        or_(c.reviewed_at.is_(None), c.reviewed_at < at)))
            .values({k: at if k == "reviewed_at" else bindparam(f"b_{k}") for k in REVIEW}),
            reviewed)
        refreshed = max(result.rowcount, 0)
    return len(new), refreshed


def _events(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert new events; a corrected one (same key, other parameters) replaces the central copy
    (the station keeps the earlier versions in its process_event_revisions)."""
    if not rows:
        return 0
    values = [{k: v for k, v in r.items() if k != "id"} for r in rows]
    stmt = INSERTS[conn.dialect.name](process_events)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(EVENT_KEY),
        set_={"parameters": stmt.excluded.parameters, "received_at": stmt.excluded.received_at},
        where=cast(process_events.c.parameters, Text) != cast(stmt.excluded.parameters, Text),
    ).returning(process_events.c.id)
    ids = [r[0] for r in conn.execute(stmt, values).all()]
    fill_values(conn, ids, replace=True)  # new or corrected: their typed values follow
    return len(ids)


def _audit(conn: Connection, station_id: str, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    marks = [{"station_id": station_id, "source_id": r["id"]} for r in rows]
    stmt = (INSERTS[conn.dialect.name](forwarded_audit).on_conflict_do_nothing()
            .returning(forwarded_audit.c.source_id))
    new = set(conn.execute(stmt, marks).scalars())
    fresh = [{**{k: v for k, v in r.items() if k != "id"},
              "station_id": r["station_id"] or station_id} for r in rows if r["id"] in new]
    if fresh:
        conn.execute(insert(audit_log), fresh)
    return len(fresh)

