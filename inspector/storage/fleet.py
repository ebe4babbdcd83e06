"""The fleet as the central database sees it: registered stations, their status rows and yield."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, literal, select, union_all

from inspector.domain import Verdict
from inspector.storage.access import DatabaseAccess
from inspector.storage.filters import aware
from inspector.storage.rollups import hour_of
from inspector.storage.tables import inspection_rollups as rollups
from inspector.storage.tables import inspections, stations
from inspector.storage.tables import station_status as status_table


@dataclass(frozen=True)
class Registration:
    """A station's row in the `stations` registry (written by its forwarder)."""

    api_url: str | None
    first_contact_at: datetime
    last_contact_at: datetime
    lag_rows: int
    lag_seconds: float
    forwarder: dict[str, Any]


@dataclass(frozen=True)
class Counts:
    """Parts of one station over the window, by verdict (from the hourly rollups)."""

    parts: int = 0
    ok: int = 0
    review: int = 0
    ng: int = 0

    @property
    def yield_(self) -> float | None:
        """OK parts / all parts, as /stats counts it (None without parts)."""
        return self.ok / self.parts if self.parts else None


@dataclass(frozen=True)
class FleetStation:
    """What the central side knows of one station."""

    station_id: str
    registration: Registration | None     # None: it never forwarded (e.g. writes here directly)
    status_at: datetime | None            # when its status row was last written
    status: dict[str, Any] | None
    counts: Counts
    last_model_version: str | None        # the model of its newest row (None: the status names it)

    @property
    def last_contact_at(self) -> datetime | None:
        """The forwarder's last contact, else the status row's time (a direct writer)."""
        if self.registration is not None:
            return self.registration.last_contact_at
        return self.status_at


class FleetQueries(DatabaseAccess):
    """Reads `stations`, `station_status` and `inspection_rollups`; writes nothing."""

    def stations(self, since: datetime, until: datetime) -> list[FleetStation]:
        """Every station that registered, published a status or has parts in [since, until)
        (widened to whole UTC hours), by station id."""
        start, end = hour_of(aware("since", since)), aware("until", until)
        with self._connection("read the fleet from") as conn:
            registered = {r["station_id"]: r for r in conn.execute(select(stations)).mappings()}
            statuses = {r["station_id"]: r for r in conn.execute(select(status_table)).mappings()}
            counts = _counts(conn.execute(
                select(rollups.c.station_id, rollups.c.verdict, func.sum(rollups.c.parts))
                .where(rollups.c.hour >= start, rollups.c.hour < end)
                .group_by(rollups.c.station_id, rollups.c.verdict)).all())
            ids = sorted(set(registered) | set(statuses) | set(counts))
            # a station's status row names its active model; only older stations' rows lack it
            models = _newest_models(conn, [sid for sid in ids if not _status_model(statuses.get(sid))])
        return [
            FleetStation(
                station_id=sid,
                registration=_registration(registered.get(sid)),
                status_at=statuses[sid]["updated_at"] if sid in statuses else None,
                status=dict(statuses[sid]["state"] or {}) if sid in statuses else None,
                counts=counts.get(sid, Counts()),
                last_model_version=models.get(sid),
            )
            for sid in ids
        ]

    def api_url(self, station_id: str) -> str | None:
        """The address a station registered for its API (None: unknown station or none given)."""
        stmt = select(stations.c.api_url).where(stations.c.station_id == station_id)
        with self._connection("read the stations registry from") as conn:
            return conn.execute(stmt).scalar_one_or_none()


def _registration(row: Any) -> Registration | None:
    if row is None:
        return None
    return Registration(api_url=row["api_url"], first_contact_at=row["first_contact_at"],
                        last_contact_at=row["last_contact_at"], lag_rows=int(row["lag_rows"]),
                        lag_seconds=float(row["lag_seconds"]),
                        forwarder=dict(row["forwarder"] or {}))


def _counts(rows: list[Any]) -> dict[str, Counts]:
    tally: dict[str, dict[str, int]] = {}
    for station_id, verdict, parts in rows:
        tally.setdefault(station_id, {}).setdefault(verdict, 0)
        tally[station_id][verdict] += int(parts)
    return {
        sid: Counts(parts=sum(by.values()), ok=by.get(Verdict.OK.value, 0),
                    review=by.get(Verdict.REVIEW.value, 0), ng=by.get(Verdict.NG.value, 0))
        for sid, by in tally.items()
    }


def _status_model(row: Any) -> bool:
    state = row["state"] if row is not None else None
    return isinstance(state, dict) and isinstance(state.get("model_version"), str)


def _newest_models(conn: Any, ids: list[str]) -> dict[str, str | None]:
    """Each station's model of its newest row that has one, in one round trip per 100 stations
    (a remote PostgreSQL answers 50 small queries slower than one): per station, one scalar
    subquery the (station_id, inspected_at) index answers without a scan."""
    cols = inspections.c
    found: dict[str, str | None] = {}
    for start in range(0, len(ids), 100):
        parts = [
            select(literal(sid, String()).label("station_id"),
                   select(cols.model_version)
                   .where(cols.station_id == sid, cols.model_version.is_not(None))
                   .order_by(cols.inspected_at.desc(), cols.id.desc()).limit(1)
                   .scalar_subquery().label("model_version"))
            for sid in ids[start:start + 100]
        ]
        found.update({r.station_id: r.model_version
                      for r in conn.execute(union_all(*parts) if len(parts) > 1 else parts[0])})
    return found
