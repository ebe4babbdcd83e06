"""AuditLog: an append-only record of who changed what, when, before -> after."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import audit_log

MAX_AUDIT_PAGE = 500  # largest page list() returns


@dataclass(frozen=True)
class AuditEntry:
    """One recorded change. `before`/`after` are JSON-able values (None: nothing there)."""

    actor: str                          # a key's name, or "cli:<user>" for local commands
    action: str                         # e.g. key.create, key.revoke, model.activate
    target: str | None = None           # what was changed: a key id, a model name, a part id
    before: Any = None
    after: Any = None
    station_id: str | None = None
    at: datetime | None = None          # set by the log when recorded
    id: int | None = None               # set by the database


def insert_entry(conn: Connection, entry: AuditEntry) -> AuditEntry:
    """Append `entry` inside the caller's transaction (so a change and its record commit together)."""
    at = entry.at or datetime.now(UTC)
    values = {"at": at, "station_id": entry.station_id, "actor": entry.actor[:64],
              "action": entry.action[:64], "target": None if entry.target is None
              else entry.target[:256], "before": entry.before, "after": entry.after}
    row_id = conn.execute(insert(audit_log).values(**values).returning(audit_log.c.id)).scalar_one()
    return AuditEntry(**{**values, "id": row_id})


class AuditLog(DatabaseAccess):
    """Append and read audit entries; there is no update and no delete."""

    def record(self, actor: str, action: str, target: str | None = None, before: Any = None,
               after: Any = None, station_id: str | None = None) -> AuditEntry:
        """Append one entry now and return it (with its id and time)."""
        entry = AuditEntry(actor=actor, action=action, target=target, before=before, after=after,
                           station_id=station_id)
        with self._transaction("write the audit log to") as conn:
            return insert_entry(conn, entry)

    def list(self, limit: int = 100, cursor: str | None = None, action: str | None = None,
             actor: str | None = None,
             station_id: str | None = None) -> tuple[list[AuditEntry], str | None]:
        """One page, newest first, and the cursor of the next page (or None)."""
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_AUDIT_PAGE}, got {limit}")
        cols = audit_log.c
        stmt = select(audit_log)
        if cursor is not None:
            stmt = stmt.where(cols.id < decode_audit_cursor(cursor))
        if action is not None:
            stmt = stmt.where(cols.action == action)
        if actor is not None:
            stmt = stmt.where(cols.actor == actor)
        if station_id is not None:
            stmt = stmt.where(cols.station_id == station_id)
        # ids only grow in an append-only table: id order is recording order
        stmt = stmt.order_by(cols.id.desc()).limit(limit + 1)
        with self._connection("read the audit log from") as conn:
            fetched = conn.execute(stmt).mappings().all()
        page = [AuditEntry(**dict(r)) for r in fetched[:limit]]
        more = len(fetched) > limit
        return page, encode_audit_cursor(fetched[limit - 1]["id"]) if more else None


def encode_audit_cursor(last_id: int) -> str:
    """An opaque page cursor: the id of the last entry of the previous page."""
    return base64.urlsafe_b64encode(f"a{last_id}".encode()).decode().rstrip("=")


def decode_audit_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("a") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"invalid audit page cursor {cursor!r}") from exc
