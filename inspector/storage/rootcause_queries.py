"""Root-cause window counted in SQL (SQLite and PostgreSQL): histograms and per-part levels."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, text

from inspector.domain import Status, Verdict
from inspector.storage.access import DatabaseAccess
from inspector.storage.events import _window
from inspector.storage.tables import UTCDateTime
from inspector.storage.window_counts import (
    MACHINE_SEP,
    Histogram,
    LevelFeature,
    MachineCounts,
    WindowCounts,
)

CHUNK = 50_000  # parts per fetch of level codes
TEMP_TABLES = ("rc_values", "rc_rework", "rc_steps", "rc_parts")


@dataclass(frozen=True)
class SequenceRows:
    """A window's parts in line order and their events by time (see sequence_rows)."""

    serials: list[str]              # per part, in line order
    defect: np.ndarray              # bool per part
    part: np.ndarray                # per event (by ts, id): its part's line index
    machine: np.ndarray             # per event
    step: np.ndarray                # per event
    event_id: np.ndarray            # per event
    setting_event: np.ndarray       # per setting value: its event's id
    setting_key: np.ndarray         # 'step.name'
    setting_value: np.ndarray       # text, or a whole number as text


class RootCauseQueries(DatabaseAccess):
    """Opens a RootCauseWindow: the parts of a window, counted in the database."""

    @contextlib.contextmanager
    def window(self, since: datetime, until: datetime, defect_class: str | None,
               count_review: bool, station_id: str | None = None) -> Iterator[RootCauseWindow]:
        """Parts inspected (status ok) in since <= inspected_at < until (at one station when
        `station_id` is given), latest per serial, in temporary tables of one connection
        (dropped on exit)."""
        _window(since, until)
        with self._errors("count a root-cause window in"), self._engine.connect() as conn:
            win = RootCauseWindow(conn)
            try:
                win.load(since, until, defect_class, count_review, station_id)
                yield win
            finally:
                win.close()


class RootCauseWindow:
    """Counts of one window; every query is a GROUP BY in the database."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pg = conn.dialect.name == "postgresql"
        # SQLite has no statistics on the temporary tables and would scan every event to look
        # each up in the window's parts; CROSS JOIN keeps the parts outside, so only their
        # events are read (by ix_process_events_serial). PostgreSQL plans from ANALYZE.
        self._join = "JOIN" if self._pg else "CROSS JOIN"

    def _run(self, sql: str, **params: Any) -> Any:
        stmt = text(sql)
        typed = [bindparam(k, type_=UTCDateTime()) for k in ("since", "until") if k in params]
        if typed:
            stmt = stmt.bindparams(*typed)
        return self._conn.execute(stmt, params)

    def _fetch(self, sql: str, params: dict | None = None) -> list[tuple]:
        """All rows of a query through the driver's own cursor (SQLAlchemy's row objects cost
        more than the query at a hundred thousand rows); :name parameters."""
        if self._pg:  # psycopg's parameter style
            sql = re.sub(r"(?<!:):([a-z_]+)", r"%(\1)s", sql)
        cursor = self._conn.connection.cursor()
        try:
            if params:
                cursor.execute(sql, params)
            else:
                cursor.execute(sql)
            return cursor.fetchall()
        finally:
            cursor.close()

    def close(self) -> None:
        if self._conn.in_transaction():
            self._conn.rollback()
        for name in TEMP_TABLES:
            self._conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
        self._conn.commit()

    def load(self, since: datetime, until: datetime, defect_class: str | None,
             count_review: bool, station_id: str | None) -> None:
        """rc_parts (latest inspection per serial, defect 0/1), rc_steps (machine set per part
        and step), rc_values (last value per part and parameter, number or text)."""
        for name in TEMP_TABLES:
            self._run(f"DROP TABLE IF EXISTS {name}")
        bad = [Verdict.NG.value, Verdict.REVIEW.value] if count_review else [Verdict.NG.value]
        bad_sql = ", ".join(f"'{v}'" for v in bad)
        cls = "" if defect_class is None else " AND coalesce(review_label, label) = :cls"
        params: dict[str, Any] = {"since": since, "until": until, "ok": Status.OK.value}
        if defect_class is not None:
            params["cls"] = defect_class
        where = "inspected_at >= :since AND inspected_at < :until AND status = :ok"
        if station_id is not None:
            where += " AND station_id = :station"
            params["station"] = station_id
        self._labels_sql = (f"SELECT DISTINCT label FROM inspections WHERE {where} AND label IS "
                            f"NOT NULL UNION SELECT DISTINCT review_label FROM inspections WHERE "
                            f"{where} AND review_label IS NOT NULL")
        self._params = params
        self._run(
            "CREATE TEMP TABLE rc_parts AS SELECT row_number() OVER (ORDER BY serial) AS part, "
            "serial, defect, first_at, first_id FROM (SELECT serial, CASE WHEN verdict IN (" +
            bad_sql + ")" + cls + " THEN 1 ELSE 0 END AS defect, row_number() OVER (PARTITION "
            "BY serial ORDER BY inspected_at DESC, id DESC) AS rn, min(inspected_at) OVER "
            "(PARTITION BY serial) AS first_at, first_value(id) OVER (PARTITION BY serial ORDER "
            "BY inspected_at, id) AS first_id FROM inspections WHERE " + where +
            ") latest WHERE rn = 1", **params)
        self._run("CREATE UNIQUE INDEX rc_parts_serial ON rc_parts (serial)")
        self._run("CREATE UNIQUE INDEX rc_parts_part ON rc_parts (part)")
        if self._pg:
            self._run("ANALYZE rc_parts")
            mset = "string_agg(DISTINCT e.machine, '|' ORDER BY e.machine)"
        else:  # exact for up to two machines at one step (a rework on another machine)
            mset = ("CASE WHEN min(e.machine) = max(e.machine) THEN min(e.machine) "
                    "ELSE min(e.machine) || '|' || max(e.machine) END")
        self._run(
            f"CREATE TEMP TABLE rc_steps AS SELECT p.part, e.step, {mset} AS mset, "
            f"count(*) AS passes, p.defect FROM rc_parts p {self._join} process_events e ON "
            "e.serial = p.serial GROUP BY p.part, e.step, p.defect")
        self._run("CREATE INDEX rc_steps_step ON rc_steps (step, part)")
        self._run("CREATE TEMP TABLE rc_rework AS SELECT part, step FROM rc_steps "
                  "WHERE passes > 1")
        self._run("CREATE INDEX rc_rework_part ON rc_rework (part, step)")
        self._run(f"CREATE TEMP TABLE rc_values AS {self._values_sql()}")
        # SQLite reads a feature's values from the index alone; PostgreSQL builds the wide
        # index slower than it reads the rows
        self._run("CREATE INDEX rc_values_key ON rc_values (key, part"
                  + (")" if self._pg else ", num, txt)"))
        if self._pg:
            self._run("ANALYZE rc_steps")
            self._run("ANALYZE rc_values")

    def _values_sql(self) -> str:
        """Every known parameter value of the window's parts (typed at ingest: process_values);
        a part that passed a step more than once keeps each parameter's value from its latest
        pass (ts, then event id)."""
        select = ("SELECT p.part, v.step || '.' || v.name AS key, v.num, v.txt, p.defect, v.ts, "
                  "v.event_id")
        once = (f"{select} FROM rc_parts p {self._join} process_values v ON v.serial = p.serial "
                "WHERE NOT EXISTS (SELECT 1 FROM rc_rework r WHERE r.part = p.part AND "
                "r.step = v.step)")
        again = (f"SELECT part, key, num, txt, defect FROM (SELECT r.*, row_number() OVER "
                 f"(PARTITION BY part, key ORDER BY ts DESC, event_id DESC) AS rn FROM ({select} "
                 f"FROM rc_rework w {self._join} rc_parts p ON p.part = w.part {self._join} "
                 "process_values v ON v.serial = p.serial AND v.step = w.step) r) latest "
                 "WHERE rn = 1")
        return (f"SELECT part, key, num, txt, defect FROM ({once}) o "
                f"UNION ALL SELECT * FROM ({again}) a")

    def counts(self) -> WindowCounts:
        """Parts, defects and the histograms root cause tests, each a GROUP BY."""
        parts, defects = self._run("SELECT count(*), coalesce(sum(defect), 0) "
                                   "FROM rc_parts").one()
        labels = frozenset(r[0] for r in self._run(self._labels_sql, **self._params))
        counts = WindowCounts(int(parts), int(defects), labels)
        for step, n, d in self._run("SELECT step, count(*), sum(defect) FROM rc_steps "
                                    "GROUP BY step"):
            counts.steps[step] = (int(n), int(d))
        rows: dict[str, list] = {}
        for step, mset, n, d in self._run("SELECT step, mset, count(*), sum(defect) "
                                          "FROM rc_steps GROUP BY step, mset"):
            rows.setdefault(step, []).append((mset, int(n), int(d)))
        for step, found in rows.items():
            counts.machine_sets[step] = Histogram.of(*_columns(found), numeric=False)
        for machine in sorted({m for step in counts.machine_sets
                               for m in counts.machine_names(step)}):
            counts.machines[machine] = self._machine(counts, machine)
        numbers: dict[str, list] = {}
        texts: dict[str, list] = {}
        # one scan for both types: a row holds a number or a text
        for key, num, txt, n, d in self._fetch("SELECT key, num, txt, count(*), sum(defect) "
                                               "FROM rc_values GROUP BY key, num, txt"):
            if num is not None:
                numbers.setdefault(key, []).append((num, int(n), int(d)))
            else:
                texts.setdefault(key, []).append((txt, int(n), int(d)))
        for found_by_key, target, numeric in ((numbers, counts.numbers, True),
                                              (texts, counts.texts, False)):
            for key, found in found_by_key.items():
                target[key] = Histogram.of(*_columns(found), numeric=numeric)
        return counts

    def _machine(self, counts: WindowCounts, machine: str) -> MachineCounts:
        steps = counts.steps_of(machine)
        if len(steps) == 1:
            n, d = counts.machine_step(machine, steps[0])
            pool_n, pool_d = counts.steps[steps[0]]
            return MachineCounts(n, d, pool_n, pool_d)
        # several steps: distinct parts over them, counted in the database
        where = " OR ".join(f"step = :s{i}" for i in range(len(steps)))
        names = {f"s{i}": s for i, s in enumerate(steps)}
        find = "strpos" if self._pg else "instr"
        inside = f"{find}('|' || mset || '|', :m) > 0"
        sql = ("SELECT count(*), coalesce(sum(d), 0) FROM (SELECT part, max(defect) AS d FROM "
               "rc_steps WHERE ({where}){extra} GROUP BY part) x")
        n, d = self._run(sql.format(where=where, extra=f" AND {inside}"), **names,
                         m=f"{MACHINE_SEP}{machine}{MACHINE_SEP}").one()
        pool_n, pool_d = self._run(sql.format(where=where, extra=""), **names).one()
        return MachineCounts(int(n), int(d), int(pool_n), int(pool_d))

    def sequence_rows(self) -> SequenceRows:
        """The window's parts in line order (first inspection), each event of them by time, and
        the setting values (text and whole numbers) of those events: what the change-point
        search orders per machine. Typed values, no JSON; one row per event or setting."""
        parts = self._fetch("SELECT part, serial, defect FROM rc_parts ORDER BY first_at, first_id")
        line = np.full(len(parts) + 1, -1, dtype=np.int64)   # rc_parts.part -> line index
        line[np.fromiter((r[0] for r in parts), np.int64, len(parts))] = np.arange(len(parts))
        events = self._fetch(f"SELECT p.part, e.machine, e.step, e.id FROM rc_parts p {self._join} "
                             "process_events e ON e.serial = p.serial ORDER BY e.ts, e.id")
        whole = "CAST(CAST(v.num AS BIGINT) AS TEXT)" if self._pg else \
            "CAST(CAST(v.num AS INTEGER) AS TEXT)"
        settings = self._fetch(
            f"SELECT v.event_id, v.step || '.' || v.name, CASE WHEN v.kind = 'integer' THEN "
            f"{whole} ELSE v.txt END FROM rc_parts p {self._join} process_values v ON v.serial = "
            "p.serial WHERE v.kind IN ('integer', 'text')")
        p = np.array(parts, dtype=object).reshape(-1, 3)
        e = np.array(events, dtype=object).reshape(-1, 4)
        v = np.array(settings, dtype=object).reshape(-1, 3)
        return SequenceRows(
            serials=p[:, 1].tolist(), defect=p[:, 2].astype(bool),
            part=line[e[:, 0].astype(np.int64)], machine=e[:, 1], step=e[:, 2],
            event_id=e[:, 3].astype(np.int64), setting_event=v[:, 0].astype(np.int64),
            setting_key=v[:, 1], setting_value=v[:, 2])

    def level_codes(self, features: Sequence[LevelFeature]
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks of (level per part and feature, -1 where unknown; defect per part), CHUNK
        parts at a time: each feature's values of those parts read by index and turned into
        levels with numpy (no per-part rows are stored or pivoted in the database)."""
        last = int(self._fetch("SELECT coalesce(max(part), 0) FROM rc_parts")[0][0])
        for lo in range(0, last, CHUNK):
            size = min(CHUNK, last - lo)
            between = {"lo": lo, "hi": lo + size}
            codes = np.full((size, len(features)), -1, dtype=np.int32)
            for f, lf in enumerate(features):
                part, value = self._feature(lf, between)
                codes[part - lo - 1, f] = _levels(lf, value)
            part, defect = _two(self._fetch("SELECT part, defect FROM rc_parts WHERE part > :lo "
                                            "AND part <= :hi", between), np.int8)
            flags = np.zeros(size, dtype=np.int8)
            flags[part - lo - 1] = defect
            yield codes, flags

    def _feature(self, lf: LevelFeature, between: dict) -> tuple[np.ndarray, np.ndarray]:
        """(part, value) of one feature for the parts in (lo, hi]: the machine set at a step,
        a parameter's number or its text."""
        if lf.source == "machines":
            sql = "SELECT part, mset FROM rc_steps WHERE step = :key"
        else:
            column = "txt" if lf.source == "text" else "num"
            sql = f"SELECT part, {column} FROM rc_values WHERE key = :key AND {column} IS NOT NULL"
        rows = self._fetch(f"{sql} AND part > :lo AND part <= :hi", {**between, "key": lf.key})
        return _two(rows, np.float64 if lf.source.startswith("number") else object)


def _two(rows: list[tuple], kind: type) -> tuple[np.ndarray, np.ndarray]:
    """Two columns of rows as (int64 array, array of `kind`)."""
    both = np.array(rows, dtype=np.float64 if kind is not object else object).reshape(-1, 2)
    return both[:, 0].astype(np.int64), both[:, 1].astype(kind)


def _levels(lf: LevelFeature, values: np.ndarray) -> np.ndarray:
    """A feature's level of each value (-1: a value its levels do not map)."""
    if lf.source == "number":  # the number of edges at or below the value
        return np.searchsorted(np.asarray(lf.edges, dtype=np.float64), values, side="right")
    if not values.size:
        return np.zeros(0, dtype=np.int64)
    distinct, inverse = np.unique(values, return_inverse=True)
    cast = float if lf.source == "number_value" else str
    return np.array([lf.mapping.get(cast(v), -1) for v in distinct], dtype=np.int64)[inverse]


def _columns(rows: list[tuple]) -> tuple[list, list[int], list[int]]:
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
