"""Root-cause window counted in SQL (SQLite and PostgreSQL): histograms and per-part levels."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
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
# Text that stands for a missing value (inspector.trace.missing.MISSING_TEXT; storage may not
# import trace): such values are left out, as the in-memory path does.
MISSING_TEXT = ("", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind",
                "1.#qnan", "<na>", "n/a", "na", "null", "nan", "none")
TEMP_TABLES = ("rc_levels", "rc_tmap", "rc_nmap", "rc_values", "rc_rework", "rc_steps",
               "rc_parts")


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
            "serial, defect FROM (SELECT serial, CASE WHEN verdict IN (" + bad_sql + ")" + cls +
            " THEN 1 ELSE 0 END AS defect, row_number() OVER (PARTITION BY serial ORDER BY "
            "inspected_at DESC, id DESC) AS rn FROM inspections WHERE " + where +
            ") latest WHERE rn = 1", **params)
        self._run("CREATE UNIQUE INDEX rc_parts_serial ON rc_parts (serial)")
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
        self._run("CREATE INDEX rc_values_key ON rc_values (key, part)")
        if self._pg:
            self._run("ANALYZE rc_steps")
            self._run("ANALYZE rc_values")

    def _values_sql(self) -> str:
        """Every known parameter value of the window's parts; a part that passed a step more
        than once keeps each parameter's value from its latest pass (ts, then id)."""
        missing = ", ".join(f"'{m}'" for m in MISSING_TEXT)
        if self._pg:
            each = "jsonb_each(e.parameters) j"
            kind = "jsonb_typeof(j.value)"
            num = f"CASE WHEN {kind} = 'number' THEN (j.value #>> '{{}}')::float8 END"
            txt = (f"CASE WHEN {kind} = 'string' THEN j.value #>> '{{}}' WHEN {kind} = "
                   "'boolean' THEN CASE WHEN j.value = 'true'::jsonb THEN 'True' ELSE 'False' "
                   f"END WHEN {kind} IN ('object', 'array') THEN j.value::text END")
        else:
            each = "json_each(e.parameters) j"
            num = "CASE WHEN j.type IN ('integer', 'real') THEN j.value END"
            txt = ("CASE j.type WHEN 'text' THEN j.value WHEN 'true' THEN 'True' WHEN 'false' "
                   "THEN 'False' WHEN 'object' THEN j.value WHEN 'array' THEN j.value END")
        select = (f"SELECT p.part, e.step || '.' || j.key AS key, {num} AS num, {txt} AS txt, "
                  "p.defect, e.ts, e.id")
        known = f"(num IS NOT NULL OR (txt IS NOT NULL AND lower(trim(txt)) NOT IN ({missing})))"
        once = (f"{select} FROM rc_parts p {self._join} process_events e ON e.serial = p.serial, "
                f"{each} "
                "WHERE NOT EXISTS (SELECT 1 FROM rc_rework r WHERE r.part = p.part AND "
                "r.step = e.step)")
        again = (f"SELECT part, key, num, txt, defect FROM (SELECT r.*, row_number() OVER "
                 f"(PARTITION BY part, key ORDER BY ts DESC, id DESC) AS rn FROM ({select} FROM "
                 f"rc_rework w {self._join} rc_parts p ON p.part = w.part {self._join} "
                 f"process_events e ON e.serial = p.serial AND e.step = w.step, {each}) r) "
                 "latest WHERE rn = 1")
        return (f"SELECT part, key, num, txt, defect FROM ({once}) o WHERE {known} "
                f"UNION ALL SELECT * FROM ({again}) a WHERE {known}")

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
        for column, target, numeric in (("num", counts.numbers, True),
                                        ("txt", counts.texts, False)):
            found_by_key: dict[str, list] = {}
            for key, value, n, d in self._run(
                    f"SELECT key, {column}, count(*), sum(defect) FROM rc_values WHERE {column} "
                    f"IS NOT NULL GROUP BY key, {column}"):
                found_by_key.setdefault(key, []).append((value, int(n), int(d)))
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

    def level_codes(self, features: Sequence[LevelFeature]
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Chunks of (level per part and feature, -1 where unknown; defect per part): the
        levels are computed and pivoted in the database, Python sees CHUNK parts at a time."""
        self._run("CREATE TEMP TABLE rc_tmap (f INTEGER, txt TEXT, level INTEGER)")
        self._run("CREATE TEMP TABLE rc_nmap (f INTEGER, num FLOAT, level INTEGER)")
        # keyed by (part, f): the pivot below reads it in part order instead of sorting it
        self._run("CREATE TEMP TABLE rc_levels (part BIGINT, f INTEGER, level INTEGER, defect "
                  "INTEGER, PRIMARY KEY (part, f))" + ("" if self._pg else " WITHOUT ROWID"))
        tmap, nmap = [], []
        for f, lf in enumerate(features):
            if lf.source in ("machines", "text"):
                tmap += [{"f": f, "t": str(k), "l": v} for k, v in lf.mapping.items()]
            elif lf.source == "number_value":
                nmap += [{"f": f, "n": float(k), "l": v} for k, v in lf.mapping.items()]
        if tmap:
            self._conn.execute(text("INSERT INTO rc_tmap VALUES (:f, :t, :l)"), tmap)
        if nmap:
            self._conn.execute(text("INSERT INTO rc_nmap VALUES (:f, :n, :l)"), nmap)
        self._run("CREATE INDEX rc_tmap_f ON rc_tmap (f, txt)")
        self._run("CREATE INDEX rc_nmap_f ON rc_nmap (f, num)")
        for f, lf in enumerate(features):
            self._run(f"INSERT INTO rc_levels {_level_sql(lf)}", f=f, key=lf.key)
        if self._pg:
            self._run("ANALYZE rc_levels")
        width = len(features)
        pivot = ", ".join(f"max(CASE WHEN l.f = {f} THEN l.level END)" for f in range(width))
        result = self._run(f"SELECT l.part, max(l.defect), {pivot} FROM rc_levels l "
                           "GROUP BY l.part ORDER BY l.part")
        while rows := result.fetchmany(CHUNK):
            arr = np.array([[-1 if v is None else v for v in r[2:]] for r in rows],
                           dtype=np.int32).reshape(len(rows), width)
            yield arr, np.array([r[1] for r in rows], dtype=np.int8)


def _level_sql(lf: LevelFeature) -> str:
    """SELECT part, f, level, defect for one feature (binds :f and :key)."""
    if lf.source == "machines":
        return ("SELECT s.part, :f, m.level, s.defect FROM rc_steps s JOIN rc_tmap m ON "
                "m.f = :f AND m.txt = s.mset WHERE s.step = :key")
    if lf.source == "text":
        return ("SELECT v.part, :f, m.level, v.defect FROM rc_values v JOIN rc_tmap m ON "
                "m.f = :f AND m.txt = v.txt WHERE v.key = :key")
    if lf.source == "number_value":
        return ("SELECT v.part, :f, m.level, v.defect FROM rc_values v JOIN rc_nmap m ON "
                "m.f = :f AND m.num = v.num WHERE v.key = :key")
    level = " + ".join(f"CASE WHEN v.num >= {float(e)!r} THEN 1 ELSE 0 END" for e in lf.edges)
    return (f"SELECT v.part, :f, {level or '0'}, v.defect FROM rc_values v WHERE v.key = :key "
            "AND v.num IS NOT NULL")


def _columns(rows: list[tuple]) -> tuple[list, list[int], list[int]]:
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]
