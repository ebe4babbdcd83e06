"""Production statistics from the hourly rollups: yield, verdicts, Pareto, hourly and shift trends."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from inspector.domain import Verdict
from inspector.storage.access import DatabaseAccess
from inspector.storage.filters import aware
from inspector.storage.rollups import hour_of
from inspector.storage.tables import inspection_rollups as rollups

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class ShiftSlot:
    """One run of a shift: its name and when it started (timezone-aware)."""

    name: str
    start: datetime


# (shift name, start of that shift run) of a UTC hour; None when no shift covers it.
ShiftOf = Callable[[datetime], tuple[str, datetime] | None]


@dataclass
class Tally:
    """Parts of one group (whole range, an hour, a shift) by verdict, with no-reads."""

    parts: int = 0
    ok: int = 0
    review: int = 0
    ng: int = 0
    no_read: int = 0

    def add(self, verdict: str, no_read: bool, n: int) -> None:
        self.parts += n
        if verdict == Verdict.OK:
            self.ok += n
        elif verdict == Verdict.REVIEW:
            self.review += n
        else:
            self.ng += n
        if no_read:
            self.no_read += n

    @property
    def yield_(self) -> float | None:
        """OK parts / all parts (None without parts)."""
        return self.ok / self.parts if self.parts else None

    @property
    def no_read_rate(self) -> float | None:
        return self.no_read / self.parts if self.parts else None


@dataclass(frozen=True)
class Defect:
    """One bar of the Pareto: REVIEW and NG parts of one class (or status, without a class)."""

    label: str
    review: int
    ng: int

    @property
    def parts(self) -> int:
        return self.review + self.ng


@dataclass
class StatsReport:
    """Figures over [since, until), whole hours, one station or all."""

    since: datetime
    until: datetime
    station_id: str | None
    total: Tally = field(default_factory=Tally)
    statuses: dict[str, int] = field(default_factory=dict)
    pareto: list[Defect] = field(default_factory=list)
    hourly: list[tuple[datetime, Tally]] = field(default_factory=list)
    shifts: list[tuple[ShiftSlot, Tally]] = field(default_factory=list)


def hour_range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """[since, until) widened to whole hours: the rollups know nothing finer."""
    start = hour_of(aware("since", since))
    end = hour_of(aware("until", until))
    return start, end if end == until else end + HOUR


class RollupStats(DatabaseAccess):
    """Reads the inspection_rollups table only, never the inspections."""

    def summary(
        self, since: datetime, until: datetime, station_id: str | None = None,
        shift_of: ShiftOf | None = None,
    ) -> StatsReport:
        """Statistics over the hours touching [since, until); shifts when `shift_of` is given."""
        start, end = hour_range(since, until)
        report = StatsReport(since=start, until=end, station_id=station_id)
        where = _where(start, end, station_id)
        cols = rollups.c
        # Two small GROUP BYs beat one by every key: a tenth of the rows to carry into Python.
        by_hour = select(cols.hour, cols.verdict, cols.no_read, func.sum(cols.parts)).where(*where)
        by_class = select(cols.verdict, cols.status, cols.label, func.sum(cols.parts)).where(*where)
        with self._connection("read rollups from") as conn:
            hours = conn.execute(by_hour.group_by(cols.hour, cols.verdict, cols.no_read)).all()
            classes = conn.execute(by_class.group_by(cols.verdict, cols.status, cols.label)).all()
        _fill_hours(report, hours, shift_of)
        _fill_classes(report, classes)
        return report


def _where(start: datetime, end: datetime, station_id: str | None) -> list[Any]:
    cols = rollups.c
    where = [cols.hour >= start, cols.hour < end]
    if station_id is not None:
        where.append(cols.station_id == station_id)
    return where


def _fill_hours(report: StatsReport, rows: Iterable[Any], shift_of: ShiftOf | None) -> None:
    hourly: dict[datetime, Tally] = defaultdict(Tally)
    for hour, verdict, no_read, parts in rows:
        hourly[hour].add(verdict, bool(no_read), int(parts))
        report.total.add(verdict, bool(no_read), int(parts))
    report.hourly = sorted(hourly.items())
    if shift_of is not None:
        report.shifts = by_shift(report.hourly, shift_of)


def _fill_classes(report: StatsReport, rows: Iterable[Any]) -> None:
    statuses: dict[str, int] = defaultdict(int)
    defects: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for verdict, status, label, parts in rows:
        statuses[status] += int(parts)
        if verdict != Verdict.OK:
            defects[label or status][verdict == Verdict.NG] += int(parts)
    report.statuses = dict(sorted(statuses.items()))
    report.pareto = pareto(Defect(k, review, ng) for k, (review, ng) in defects.items())


def pareto(defects: Iterable[Defect]) -> list[Defect]:
    """Most parts first; ties by name so the order is stable."""
    return sorted(defects, key=lambda d: (-d.parts, d.label))


def by_shift(hourly: Iterable[tuple[datetime, Tally]], shift_of: ShiftOf) -> list[tuple[ShiftSlot, Tally]]:
    """Hourly tallies summed per shift run, in time order; hours outside every shift are left out."""
    shifts: dict[ShiftSlot, Tally] = {}
    for hour, tally in hourly:
        found = shift_of(hour)
        if found is None:
            continue
        into = shifts.setdefault(ShiftSlot(*found), Tally())
        into.parts += tally.parts
        into.ok += tally.ok
        into.review += tally.review
        into.ng += tally.ng
        into.no_read += tally.no_read
    return sorted(shifts.items(), key=lambda item: (item[0].start, item[0].name))
