"""AlertStore: predictive alerts (what a monitor raised, on what evidence) and monitor baselines."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update

from inspector.domain import Status, Verdict
from inspector.errors import StoreError
from inspector.storage.access import DatabaseAccess
from inspector.storage.tables import alerts, inspections

MAX_ALERT_PAGE = 500
DEFECT_RATE = "defect_rate"


@dataclass(frozen=True)
class Alert:
    """A monitor's alert and everything it rests on."""

    raised_at: datetime
    station_id: str | None
    monitor: str                       # defect_rate
    subject: str                       # 'crack rate at station-1'
    defect_class: str | None           # None: every NG part
    message: str
    statistic: float                   # the CUSUM when it raised
    threshold: float                   # h
    baseline: float                    # the rate it compares with
    current: float                     # the rate since the rise began
    parts: int                         # parts since the rise began
    defects: int
    first_serial: str | None
    last_serial: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    cleared_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class Baseline:
    """A station's recent parts (status ok) and their NG parts per label."""

    parts: int
    ng: int
    by_label: dict[str, int]


class PartRow(NamedTuple):
    """What a rate monitor reads of a stored inspection (the fields of Inspection it uses)."""

    id: int
    part_id: str
    serial: str | None
    inspected_at: datetime
    status: str
    verdict: str
    label: str | None


class AlertStore(DatabaseAccess):
    """Append alerts, mark them cleared, list them newest first."""

    def add(self, alert: Alert) -> Alert:
        values = asdict(alert)
        values.pop("id")
        values["subject"] = values["subject"][:256]
        with self._transaction("store an alert in") as conn:
            row_id = conn.execute(insert(alerts).values(**values).returning(alerts.c.id)).scalar_one()
        return replace(alert, id=int(row_id))

    def clear(self, alert_id: int, at: datetime) -> None:
        """Mark an alert cleared (once: a cleared alert keeps its first time)."""
        cols = alerts.c
        with self._transaction("clear an alert in") as conn:
            conn.execute(update(alerts).where(cols.id == alert_id, cols.cleared_at.is_(None))
                         .values(cleared_at=at))

    def list(self, limit: int = 100, cursor: str | None = None, station_id: str | None = None,
             active: bool | None = None, since: datetime | None = None,
             until: datetime | None = None) -> tuple[list[Alert], str | None]:
        """One page, newest first, and the cursor of the next page (or None)."""
        if not 1 <= limit <= MAX_ALERT_PAGE:
            raise StoreError(f"limit must be between 1 and {MAX_ALERT_PAGE}, got {limit}")
        cols = alerts.c
        stmt = select(alerts)
        if cursor is not None:
            stmt = stmt.where(cols.id < decode_alert_cursor(cursor))
        if station_id is not None:
            stmt = stmt.where(cols.station_id == station_id)
        if active is not None:
            stmt = stmt.where(cols.cleared_at.is_(None) if active else cols.cleared_at.is_not(None))
        if since is not None:
            stmt = stmt.where(cols.raised_at >= since)
        if until is not None:
            stmt = stmt.where(cols.raised_at < until)
        stmt = stmt.order_by(cols.id.desc()).limit(limit + 1)  # ids grow: id order is time order
        with self._connection("read alerts from") as conn:
            fetched = conn.execute(stmt).mappings().all()
        page = [Alert(**dict(r)) for r in fetched[:limit]]
        more = len(fetched) > limit
        return page, encode_alert_cursor(fetched[limit - 1]["id"]) if more else None

    def exists(self, alert: Alert) -> bool:
        """An alert of the same station and subject raised by the same part is stored already."""
        cols = alerts.c
        station = (cols.station_id.is_(None) if alert.station_id is None
                   else cols.station_id == alert.station_id)
        stmt = select(func.count()).select_from(alerts).where(
            station, cols.subject == alert.subject[:256], cols.last_serial == alert.last_serial)
        with self._connection("read alerts from") as conn:
            return bool(conn.execute(stmt).scalar_one())

    def parts(self, station_id: str, since: datetime, until: datetime, after_id: int = 0,
              limit: int = 20_000) -> list[PartRow]:
        """A station's inspections with since <= inspected_at < until, in id (write) order,
        `limit` at a time after `after_id` (memory stays flat over a long history)."""
        cols = inspections.c
        stmt = (select(cols.id, cols.part_id, cols.serial, cols.inspected_at, cols.status,
                       cols.verdict, cols.label)
                .where(cols.station_id == station_id, cols.inspected_at >= since,
                       cols.inspected_at < until, cols.id > after_id)
                .order_by(cols.id).limit(limit))
        with self._connection("read inspections from") as conn:
            return [PartRow(*r) for r in conn.execute(stmt).all()]

    def baseline(self, station_id: str, parts: int) -> Baseline:
        """The station's last `parts` inspected parts (status ok): how many were NG, per label."""
        cols = inspections.c
        recent = (select(cols.verdict, cols.label)
                  .where(cols.station_id == station_id, cols.status == Status.OK.value)
                  .order_by(cols.id.desc()).limit(parts).subquery())
        stmt = select(recent.c.verdict, recent.c.label, func.count()).group_by(
            recent.c.verdict, recent.c.label)
        with self._connection("read the alert baseline from") as conn:
            rows = conn.execute(stmt).all()
        total = sum(n for _, _, n in rows)
        by_label: Counter[str] = Counter()
        for verdict, label, n in rows:
            if verdict == Verdict.NG.value and label:
                by_label[label] += n
        ng = sum(n for verdict, _, n in rows if verdict == Verdict.NG.value)
        return Baseline(int(total), int(ng), dict(by_label))


def encode_alert_cursor(last_id: int) -> str:
    """An opaque page cursor: the id of the last alert of the previous page."""
    return base64.urlsafe_b64encode(f"l{last_id}".encode()).decode().rstrip("=")


def decode_alert_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("l") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"invalid alert page cursor {cursor!r}") from exc
