"""Root cause at scale: 1M parts and 5M events on SQLite and PostgreSQL, one day and 30 days,
each timed in a child process that reports its peak memory (ru_maxrss)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue as queue_module
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

START = datetime(2024, 1, 1, tzinfo=UTC)


def generate(url: str, parts: int, cycle_s: int) -> dict:
    """Parts every `cycle_s` seconds from START, five events each (pressing, firing, grinding,
    coating, washing), generated in the database by INSERT ... SELECT (no rows through
    Python), their parameters typed into process_values as ingest does; kiln-2 above 856 C
    cracks 4x as often (8% against 2%)."""
    from inspector.storage.store import InspectionStore
    from inspector.storage.values import fill_all

    store = InspectionStore.open(url)  # the schema (migrations)
    pg = store.engine.dialect.name == "postgresql"
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        for sql in (_pg_statements if pg else _sqlite_statements)(parts, cycle_s):
            conn.execute(text(sql))
        t1 = time.perf_counter()
        fill_all(conn)  # what ingest does per event, here for all at once
    seconds = time.perf_counter() - t0
    values_s = time.perf_counter() - t1
    with store.engine.connect() as conn:
        if pg:
            conn.execute(text("ANALYZE"))
        events = conn.execute(text("SELECT count(*) FROM process_events")).scalar_one()
    store.close()
    return {"generate_s": round(seconds, 1), "values_s": round(values_s, 1),
            "events_stored": int(events)}


# (step, machine expression, minutes after pressing, parameters) with U = uniform 0..1 and
# N(mu, sd) = a normal draw, written per dialect below
STEPS = (
    ("pressing", "'press-' || {pick2}", 0,
     [("force_kN", "N(120, 3)", 2), ("dwell_s", "N(2, 0.05)", 3), ("die", "'D' || {pick4}", None)]),
    ("firing", "'kiln-' || {pick2}", 30,
     [("temperature", "N(850, 4)", 2), ("duration_min", "N(45, 1)", 2),
      ("zone", "CASE WHEN U < 0.5 THEN 'A' ELSE 'B' END", None)]),
    ("grinding", "'grinder-1'", 90,
     [("spindle_rpm", "N(3000, 30)", 1), ("wheel_wear", "(i % 400) / 400.0", 3),
      ("feed_mm_s", "N(1.2, 0.02)", 3)]),
    ("coating", "'coater-' || {pick2}", 100,
     [("thickness_um", "N(25, 1)", 2), ("viscosity", "N(80, 3)", 2), ("lot", "{lot}", None)]),
    ("washing", "'washer-1'", 105, [("water_c", "N(45, 2)", 2)]),
)


def _expand(expr: str, uniform: str, normal: str, fmt: dict) -> str:
    expr = expr.format(**fmt)
    while "N(" in expr:
        start = expr.index("N(")
        end = expr.index(")", start)
        mu, sd = expr[start + 2:end].split(",")
        expr = expr[:start] + f"({mu} + {sd} * {normal})" + expr[end + 1:]
    return expr.replace(" U ", f" {uniform} ")


def _sqlite_statements(parts: int, cycle_s: int) -> list[str]:
    uniform = "((abs(random()) % 1000000) / 1000000.0)"
    # Irwin-Hall: four uniforms, centred and scaled to unit variance
    normal = f"(({uniform} + {uniform} + {uniform} + {uniform} - 2.0) * 1.7320508)"
    fmt = {"pick2": "(1 + abs(random()) % 2)", "pick4": "(1 + abs(random()) % 4)",
           "lot": "printf('L%04d', i / 2500)"}
    series = (f"WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
              f"WHERE i < {parts - 1})")
    out = []
    for step, machine, minutes, params in STEPS:
        pairs = ", ".join(
            f"'{name}', " + (f"round({_expand(e, uniform, normal, fmt)}, {d})" if d is not None
                             else _expand(e, uniform, normal, fmt)) for name, e, d in params)
        out.append(
            f"INSERT INTO process_events (serial, machine, step, ts, parameters, received_at) "
            f"{series} SELECT printf('B%08d', i), {machine.format(**fmt)}, '{step}', "
            f"strftime('%Y-%m-%d %H:%M:%S', '2024-01-01', '+' || (i * {cycle_s} + "
            f"{minutes * 60}) || ' seconds') || '.000000', json_object({pairs}), "
            f"'2024-01-01 00:00:00.000000' FROM n")
    out.append(_inspections_sql(
        "strftime('%Y-%m-%d %H:%M:%S', ts, '+80 minutes') || '.000000'",
        "json_extract(parameters, '$.temperature')", uniform))
    return out


def _pg_statements(parts: int, cycle_s: int) -> list[str]:
    uniform = "random()"
    normal = "(sqrt(-2.0 * ln(1.0 - random())) * cos(2.0 * pi() * random()))"
    fmt = {"pick2": "(1 + floor(random() * 2))::int", "pick4": "(1 + floor(random() * 4))::int",
           "lot": "'L' || lpad((i / 2500)::text, 4, '0')"}
    out = []
    for step, machine, minutes, params in STEPS:
        pairs = ", ".join(
            f"'{name}', " + (f"round(({_expand(e, uniform, normal, fmt)})::numeric, {d})"
                             if d is not None else _expand(e, uniform, normal, fmt))
            for name, e, d in params)
        out.append(
            f"INSERT INTO process_events (serial, machine, step, ts, parameters, received_at) "
            f"SELECT 'B' || lpad(i::text, 8, '0'), {machine.format(**fmt)}, '{step}', "
            f"timestamptz '2024-01-01 00:00:00+00' + make_interval(secs => i * {cycle_s} + "
            f"{minutes * 60}), jsonb_build_object({pairs}), now() "
            f"FROM generate_series(0, {parts - 1}) AS i")
    out.append(_inspections_sql("ts + interval '80 minutes'",
                                "(parameters ->> 'temperature')::float8", uniform))
    return out


def _inspections_sql(camera_at: str, temperature: str, uniform: str) -> str:
    """One inspection per part, its label drawn at the rate its firing event implies."""
    rate = f"CASE WHEN machine = 'kiln-2' AND {temperature} > 856 THEN 0.08 ELSE 0.02 END"
    drawn = (f"SELECT serial, {camera_at} AS at, {uniform} AS u, {rate} AS rate "
             "FROM process_events WHERE step = 'firing'")
    label = ("CASE WHEN u < rate THEN 'crack' WHEN u < rate + 0.03 THEN 'blowhole' "
             "ELSE 'free' END")
    # MATERIALIZED: each draw is made once (a flattened subquery would draw again per use)
    return ("INSERT INTO inspections (part_id, station_id, serial, serial_source, captured_at, "
            "inspected_at, status, verdict, label, defect_score, scores, model_version) "
            f"WITH d AS MATERIALIZED ({drawn}), l AS MATERIALIZED (SELECT serial, at, {label} "
            "AS lab FROM d) SELECT 'station-1-' || serial, 'station-1', serial, 'code', at, at, "
            "'ok', CASE WHEN lab = 'free' THEN 'OK' ELSE 'NG' END, lab, 0.1, '{}', 'bench' "
            "FROM l")


def _case(url: str, since: datetime, until: datetime, repeats: int, out: multiprocessing.Queue
          ) -> None:
    """In a child process: root cause `repeats` times; seconds, peak RSS and the top finding."""
    try:
        out.put(_timed(url, since, until, repeats))
    except Exception as exc:  # the parent waits on the queue: it must hear of a failure
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def _timed(url: str, since: datetime, until: datetime, repeats: int) -> dict:
    from inspector.storage.events import EventStore
    from inspector.storage.store import InspectionStore
    from inspector.trace.rootcause import root_cause

    store = InspectionStore.open(url, migrate=False)
    events = EventStore(store.engine)
    base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        report = root_cause(events, since, until, defect_class="crack")
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)  # SQLite's work too: it runs in this process
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store.close()
    top = report.ranked[0] if report.ranked else None
    # the first run builds the window's hour blocks (cached after it), the others read them
    return {"parts": report.parts, "seconds": [round(s, 2) for s in seconds],
            "first_s": round(seconds[0], 2),
            "median_s": round(statistics.median(seconds[1:] or seconds), 2),
            "cpu_s": [round(c, 2) for c in cpu],
            "peak_rss_mb": round(peak_mb), "rss_after_imports_mb": round(base_mb),
            "top": top.name if top else None, "tests": report.tests,
            "changes": getattr(report, "changes_message", "")}


def measure(url: str, days: int, repeats: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:  # the child imports this file by name (spawn passes sys.path)
        sys.path.insert(0, here)
    since = START + timedelta(days=2)
    queue = ctx.Queue()
    proc = ctx.Process(target=_case, args=(url, since, since + timedelta(days=days), repeats,
                                           queue))
    proc.start()
    while True:  # a child that dies (killed, out of memory) puts nothing: do not wait forever
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                result = {"error": f"the child process exited with code {proc.exitcode}"}
                break
    proc.join()
    return result


def _migrated(url: str) -> bool:
    """A kept database brought to this code's schema (the child opens it without migrating)."""
    from inspector.storage.store import InspectionStore

    InspectionStore.open(url).close()
    return True


def _pg_exists(base: str, name: str) -> bool:
    admin = create_engine(base)
    with admin.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                             {"n": name}).first()
    admin.dispose()
    return found is not None


def _postgres(base: str, name: str, create: bool, keep: bool = False) -> str:
    """The URL of the benchmark's database: created afresh (`create`), dropped (neither), or
    left as it is (`keep`)."""
    if not keep:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if create:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", type=int, default=1_000_000)
    parser.add_argument("--cycle-s", type=int, default=3,
                        help="seconds between parts (1M parts at 3 s span 34.7 days)")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg-url", default=os.environ.get(
        "INSPECTOR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        help="server to create the benchmark's own database bench_rc on (dropped at the end)")
    parser.add_argument("--pg-database", default="bench_rc",
                        help="the benchmark's own database (created, and dropped at the end)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true",
                        help="use the database a run with --keep left (SQLite: in --workdir)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser


def main(args: argparse.Namespace) -> dict:
    from inspector.machine import cpu_model

    result: dict = {"bench": "rootcause_scale", "parts": args.parts, "events": 5 * args.parts,
                    "cycle_s": args.cycle_s, "cpu": cpu_model(), "cores": os.cpu_count()}
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        if kind == "sqlite":
            workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_rc_"))
            db = workdir / "bench_rc.db"
            if not args.reuse:
                db.unlink(missing_ok=True)
            url = f"sqlite:///{db}"
            reused = args.reuse and db.exists()
        else:
            reused = args.reuse and _pg_exists(args.pg_url, args.pg_database)
            url = _postgres(args.pg_url, args.pg_database, create=True, keep=reused)
        try:
            entry = {"reused": _migrated(url)} if reused else generate(url, args.parts,
                                                                       args.cycle_s)
            for days in (1, 30):
                # the 30-day case twice: cold (every block built), then warm
                entry[f"{days}d"] = measure(url, days, args.repeats if days == 1 else 2)
            entry["load_avg"] = [round(x, 2) for x in os.getloadavg()]
            result[kind] = entry
        finally:
            if args.keep:
                pass
            elif kind == "sqlite":
                db.unlink(missing_ok=True)
            else:
                _postgres(args.pg_url, args.pg_database, create=False)
        print(json.dumps({kind: result[kind]}), file=sys.stderr, flush=True)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
