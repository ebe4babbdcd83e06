"""Reviews of inspected parts: the queue to review, the recorded label (with its audit entry)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from inspector.domain import Inspection, Verdict
from inspector.errors import StoreError
from inspector.storage import rows as rowmap
from inspector.storage.access import DatabaseAccess
from inspector.storage.audit import AuditEntry, insert_entry
from inspector.storage.tables import inspections

MAX_QUEUE_PAGE = 500
# queue order: REVIEW first, then NG, then the OK parts the archive kept a sample image of
QUEUE_ORDER = (Verdict.REVIEW, Verdict.NG, Verdict.OK)
REVIEW_FIELDS = ("review_label", "reviewed_by", "reviewed_at", "review_note")


@dataclass(frozen=True)
class Review:
    """The label a person gave one part."""

    part_id: str
    label: str
    note: str | None
    actor: str
    station_id: str | None = None     # the station the audit entry names


@dataclass(frozen=True)
class ReviewedImage:
    """A reviewed part's label and archived image (relative to the archive root, or None)."""

    part_id: str
    label: str
    image_path: str | None


class ReviewStore(DatabaseAccess):
    """The review queue, recording reviews and listing reviewed parts for export."""

    def queue(self, limit: int = 50, cursor: str | None = None,
              station_id: str | None = None) -> tuple[list[Inspection], str | None]:
        """Unreviewed parts: REVIEW, then NG, then sampled OK (with an image); oldest first."""
        if not 1 <= limit <= MAX_QUEUE_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_QUEUE_PAGE}, got {limit}")
        start = decode_queue_cursor(cursor) if cursor is not None else (0, None, None)
        found: list[dict[str, Any]] = []
        with self._connection("read the review queue from") as conn:
            for rank in range(start[0], len(QUEUE_ORDER)):
                after = start[1:] if rank == start[0] else (None, None)
                stmt = _group(rank, after, station_id).limit(limit + 1 - len(found))
                found += [{**r, "_rank": rank} for r in conn.execute(stmt).mappings()]
                if len(found) > limit:
                    break
        page = found[:limit]
        next_cursor = None
        if len(found) > limit:
            last = page[-1]
            next_cursor = encode_queue_cursor(last["_rank"], last["inspected_at"], last["id"])
        return [rowmap.from_row(r) for r in page], next_cursor

    def record(self, review: Review) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Store the review and its audit entry in one transaction; (before, after) or None
        when there is no such part."""
        c = inspections.c
        cols = [c.verdict, c.label, *(getattr(c, f) for f in REVIEW_FIELDS)]
        with self._transaction("record a review in") as conn:
            row = conn.execute(select(*cols).where(c.part_id == review.part_id)).mappings().first()
            if row is None:
                return None
            values = {"review_label": review.label, "reviewed_by": review.actor[:64],
                      "reviewed_at": datetime.now(UTC), "review_note": review.note}
            conn.execute(update(inspections).where(c.part_id == review.part_id).values(**values))
            before, after = _review_json(row), _review_json({**row, **values})
            insert_entry(conn, AuditEntry(actor=review.actor, action="inspection.review",
                                          target=review.part_id, before=before, after=after,
                                          station_id=review.station_id))
        return before, after

    def known_label(self, label: str) -> bool:
        """Whether a stored row carries `label` as its model label or review label."""
        c = inspections.c
        stmt = select(c.id).where(or_(c.label == label, c.review_label == label)).limit(1)
        with self._connection("read labels from") as conn:
            return conn.execute(stmt).first() is not None

    def labels(self) -> list[str]:
        """Every label seen in stored rows (model labels and review labels), sorted."""
        c = inspections.c
        with self._connection("read labels from") as conn:
            seen = set(conn.execute(select(c.label).distinct()).scalars())
            seen |= set(conn.execute(select(c.review_label).distinct()).scalars())
        return sorted(label for label in seen if label)

    def reviewed(self, station_id: str | None = None, page: int = 500) -> Iterator[ReviewedImage]:
        """Every reviewed part, in id order, read a page at a time (no connection held between)."""
        c = inspections.c
        last_id = 0
        while True:
            stmt = select(c.id, c.part_id, c.review_label, c.image_path).where(
                c.review_label.is_not(None), c.id > last_id)
            if station_id is not None:
                stmt = stmt.where(c.station_id == station_id)
            with self._connection("read reviewed parts from") as conn:
                rows = conn.execute(stmt.order_by(c.id).limit(page)).mappings().all()
            for r in rows:
                yield ReviewedImage(r["part_id"], r["review_label"], r["image_path"])
            if len(rows) < page:
                return
            last_id = rows[-1]["id"]


def _group(rank: int, after: tuple[datetime | None, int | None], station_id: str | None) -> Any:
    """One verdict's unreviewed parts, oldest first, after the cursor's (time, id) if given."""
    c = inspections.c
    verdict = QUEUE_ORDER[rank]
    stmt = select(inspections).where(c.verdict == verdict.value, c.reviewed_at.is_(None),
                                     c.review_label.is_(None))
    if verdict is Verdict.OK:
        stmt = stmt.where(c.image_path.is_not(None))
    if station_id is not None:
        stmt = stmt.where(c.station_id == station_id)
    at, last_id = after
    if at is not None:
        stmt = stmt.where(or_(c.inspected_at > at, and_(c.inspected_at == at, c.id > last_id)))
    return stmt.order_by(c.inspected_at, c.id)


def _review_json(row: Any) -> dict[str, Any]:
    at = row["reviewed_at"]
    return {"verdict": row["verdict"], "label": row["label"], "review_label": row["review_label"],
            "reviewed_by": row["reviewed_by"], "reviewed_at": at.isoformat() if at else None,
            "review_note": row["review_note"]}


def encode_queue_cursor(rank: int, inspected_at: datetime, row_id: int) -> str:
    """An opaque cursor: the queue group, time and id of the last part of the previous page."""
    raw = f"q{rank}|{inspected_at.astimezone(UTC).isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_queue_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        rank, at, row_id = raw.removeprefix("q").split("|") if raw.startswith("q") else ("", "", "")
        when = datetime.fromisoformat(at)
        if not 0 <= int(rank) < len(QUEUE_ORDER) or when.tzinfo is None:
            raise ValueError(raw)
        return int(rank), when, int(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"invalid review queue cursor {cursor!r}") from exc
