"""PostgreSQL at scale: serial lookup and a one-day root cause at 100k and at 10M inspections.

Both histories grow at the same rate (--per-day parts a day, ending now), so the queried day
holds the same parts in both and only the history behind it differs: the question is whether
ten years' worth of rows (here 100x more) slows the everyday queries down. Rows are generated
server-side (INSERT ... SELECT FROM generate_series) into the migrated, partitioned schema;
the queried day's parts get four upstream events each, and 1 % of the other parts too. The two
histories live in two schemas of one database of their own (created, then dropped), and the
timings alternate small and large repetition by repetition. One JSON line on stdout.

    python scripts/bench_pg_scale.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.machine import cpu_model
from inspector.storage.events import EventStore
from inspector.storage.partitions import ensure_partitions
from inspector.storage.rootcause_blocks import new_hours
from inspector.storage.store import InspectionStore
from inspector.storage.values import fill_all
from inspector.trace.rootcause import root_cause

DATABASE = "bench_scale"
CHUNK = 1_000_000  # rows per INSERT ... SELECT (progress on stderr between them)
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# One part: station, serial, time; NG likelier on kiln 3 (g % 3 = 2), so root cause has a cause.
# :start and :step place part g at start + g * step seconds.
INSPECTIONS = """
INSERT INTO inspections (part_id, station_id, serial, serial_source, captured_at, inspected_at,
    status, verdict, label, defect_score, scores, model_version, threshold_ng, threshold_review,
    latency_ms)
SELECT 'P' || g, 'st-' || (g % 8), 'SN' || lpad(g::text, 10, '0'), 'code',
    t - interval '40 milliseconds', t, 'ok', verdict,
    CASE verdict WHEN 'NG' THEN 'crack' WHEN 'REVIEW' THEN 'blowhole' ELSE 'good' END,
    r, '{"good": 0.97, "crack": 0.03}'::jsonb, 'tile-resnet@bench', 0.5, 0.2, 12.5
FROM (
    SELECT g, t, r, CASE WHEN r < 0.02 + 0.04 * (g % 3 = 2)::int THEN 'NG'
                         WHEN r > 0.985 THEN 'REVIEW' ELSE 'OK' END AS verdict
    FROM (SELECT g, :start + g * :step * interval '1 second' AS t,
                 random() AS r  -- once per row: the subquery is not flattened past random()
          FROM generate_series(:lo, :hi - 1) AS g) AS parts
) AS judged
"""

# Four upstream events of part g: pressing, firing (the kiln is g % 3), glazing, washing.
EVENTS = """
INSERT INTO process_events (serial, machine, step, ts, parameters, received_at)
SELECT 'SN' || lpad(g::text, 10, '0'), e.machine, e.step, t - e.before, e.params, t
FROM generate_series(:lo, :hi - 1) AS g
CROSS JOIN LATERAL (SELECT :start + g * :step * interval '1 second' AS t) AS tt
CROSS JOIN LATERAL (VALUES
    ('press-' || (g % 2 + 1), 'pressing', interval '60 minutes',
     jsonb_build_object('pressure_bar', round((200 + 10 * random())::numeric, 2))),
    ('kiln-' || (g % 3 + 1), 'firing', interval '30 minutes',
     jsonb_build_object('temperature', round((1180 + 20 * random())::numeric, 1))),
    ('glaze-1', 'glazing', interval '15 minutes',
     jsonb_build_object('viscosity', round((30 + 3 * random())::numeric, 2))),
    ('washer-1', 'washing', interval '5 minutes',
     jsonb_build_object('water_c', round((40 + 5 * random())::numeric, 1)))
) AS e(machine, step, before, params)
WHERE :every = 1 OR g % :every = 0
"""


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("INSPECTOR_TEST_PG_URL", DEFAULT_URL),
                        help="any database on the server; the bench creates its own beside it")
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    parser.add_argument("--per-day", type=int, default=50_000,
                        help="parts a day in both histories (the queried day holds this many)")
    parser.add_argument("--reps", type=int, default=5, help="alternated repetitions")
    parser.add_argument("--lookups", type=int, default=200, help="serials per lookup timing")
    parser.add_argument("--batch", type=int, default=500, help="parts per timed store write")
    parser.add_argument("--database", default=DATABASE, help="the bench's own database")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--reuse", action="store_true",
                        help="time the histories a --keep run left (same sizes and --per-day)")
    return parser


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def fill(store: InspectionStore, parts: int, per_day: int, end: datetime) -> dict:
    """`parts` inspections ending at `end`, events for the last day's and 1 % of the others."""
    step = 86400.0 / per_day
    start = end - timedelta(seconds=parts * step)
    months = (end.year - start.year) * 12 + end.month - start.month
    ensure_partitions(store.engine, months_ahead=months + 1, now=start)
    last_day = max(0, parts - per_day)
    t0 = time.perf_counter()
    with store.engine.begin() as conn:
        # Keys and indexes are built once after the rows (a sort each) instead of row by row:
        # the same definitions, read back from the catalogue, so the measured schema is intact.
        rebuild = _drop_indexes(conn)
        # the BEFORE INSERT trigger (a part stored once) is the writers' guard; these rows are
        # unique by construction, and 10M trigger lookups would only measure the trigger
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("SELECT setseed(0.42)"))
        for lo in range(0, parts, CHUNK):
            hi = min(parts, lo + CHUNK)
            conn.execute(text(INSPECTIONS), {"lo": lo, "hi": hi, "start": start, "step": step})
            log(f"  {hi:,} inspections")
        args = {"start": start, "step": step}
        conn.execute(text(EVENTS), {"lo": 0, "hi": last_day, "every": 100, **args})
        conn.execute(text(EVENTS), {"lo": last_day, "hi": parts, "every": 1, **args})
        fill_all(conn)  # the parameters typed as ingest types them (root cause reads these)
        new_hours(conn)  # what the triggers switched off above would have recorded
        log("  building keys and indexes")
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for statement in rebuild:
            conn.execute(text(statement))
    fill_s = time.perf_counter() - t0
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE inspections"))
        conn.execute(text("ANALYZE process_events"))
    held = _held(store)
    log(f"  filled in {fill_s:.0f} s: {held['inspections']:,} inspections, "
        f"{held['events']:,} events")
    return {**held, "fill_s": round(fill_s, 1)}


def _held(store: InspectionStore) -> dict:
    with store.engine.connect() as conn:
        return {
            "inspections": conn.execute(text("SELECT count(*) FROM inspections")).scalar_one(),
            "events": conn.execute(text("SELECT count(*) FROM process_events")).scalar_one(),
            "partitions": conn.execute(text("SELECT count(*) FROM pg_inherits "
                                            "WHERE inhparent = 'inspections'::regclass")).scalar(),
            "first": conn.execute(text("SELECT min(inspected_at) FROM inspections")).scalar()
            .isoformat(),
        }


def _drop_indexes(conn: Connection) -> list[str]:
    """Drop the keys and indexes of `inspections`; returns the statements that rebuild them."""
    keys = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'inspections'::regclass AND contype IN ('p', 'u')")).all()
    indexes = conn.execute(text(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = 'inspections'::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)")).all()
    for name, _ in keys:
        conn.execute(text(f"ALTER TABLE inspections DROP CONSTRAINT {name}"))
    for name, _ in indexes:
        conn.execute(text(f"DROP INDEX {name}"))
    # a partitioned parent's index definition reads "ON ONLY": that would skip the partitions
    return ([f"ALTER TABLE inspections ADD CONSTRAINT {n} {d}" for n, d in keys]
            + [d.replace(" ON ONLY ", " ON ") for _, d in indexes])


def time_lookups(store: InspectionStore, serials: list[str]) -> float:
    """Median ms of InspectionStore.by_serial (what GET /api/v1/serials/{serial} calls)."""
    times = []
    for serial in serials:
        t0 = time.perf_counter()
        found = store.by_serial(serial)
        times.append((time.perf_counter() - t0) * 1000.0)
        assert len(found) == 1, (serial, found)
    return statistics.median(times)


def time_write(store: InspectionStore, batch: int, rep: int, end: datetime, run: str) -> float:
    """Ms for one InspectionStore.write of `batch` new parts, each with a part_ref: the insert
    trigger that keeps a part stored once looks each up across every partition."""
    at = end + timedelta(hours=1, seconds=rep)  # after the queried day: it stays as it was
    key = f"W{run}-{rep}"  # new parts in every run, also over a kept (--reuse) history
    rows = [Inspection(part_id=f"{key}-{i}", station_id=f"st-{i % 8}", serial=f"{key}-{i}",
                       serial_source=SerialSource.CODE, captured_at=at, inspected_at=at,
                       status=Status.OK, verdict=Verdict.OK, label="good", defect_score=0.01,
                       scores={"good": 0.99}, part_ref=f"REF-{key}-{i}")
            for i in range(batch)]
    t0 = time.perf_counter()
    stored = store.write(rows)
    ms = (time.perf_counter() - t0) * 1000.0
    assert stored == batch and store.write(rows[:10]) == 0
    return ms


def time_root_cause(events: EventStore, end: datetime) -> tuple[float, dict]:
    """Seconds of the /api/v1/root-cause entry point over the last full day."""
    t0 = time.perf_counter()
    report = root_cause(events, end - timedelta(days=1), end)
    seconds = time.perf_counter() - t0
    return seconds, {"parts": report.parts, "defects": report.defects, "status": report.status}


def main(args: argparse.Namespace) -> dict:
    base = make_url(args.url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {args.database}"))
            conn.execute(text(f"CREATE DATABASE {args.database}"))
    try:
        return _run(args, base.set(database=args.database))
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)"))
        admin.dispose()


def _timed_reps(args: argparse.Namespace, stores: dict, eventstores: dict, facts: dict,
                sizes: dict[str, int], end: datetime) -> tuple[dict, dict, dict]:
    """Serial lookups, batch writes and root cause, small and large alternated every rep."""
    rng = random.Random(7)
    run = f"{time.time_ns():x}"
    lookups: dict[str, list[float]] = {n: [] for n in sizes}
    writes: dict[str, list[float]] = {n: [] for n in sizes}
    causes: dict[str, list[float]] = {n: [] for n in sizes}
    for name in sizes:  # warm: connection pools, caches, the planner's statistics
        time_lookups(stores[name], [f"SN{rng.randrange(sizes[name]):010d}" for _ in range(20)])
        _, facts[name]["root_cause"] = time_root_cause(eventstores[name], end)
    for rep in range(args.reps):
        for name in (("small", "large") if rep % 2 == 0 else ("large", "small")):
            serials = [f"SN{rng.randrange(sizes[name]):010d}" for _ in range(args.lookups)]
            lookups[name].append(time_lookups(stores[name], serials))
            writes[name].append(time_write(stores[name], args.batch, rep, end, run))
            seconds, _ = time_root_cause(eventstores[name], end)
            causes[name].append(seconds)
        log(f"rep {rep + 1}: serial ms small {lookups['small'][-1]:.2f} large "
            f"{lookups['large'][-1]:.2f}; root cause s small {causes['small'][-1]:.2f} "
            f"large {causes['large'][-1]:.2f}; write ms small {writes['small'][-1]:.0f} "
            f"large {writes['large'][-1]:.0f}")
    return lookups, writes, causes


def _run(args: argparse.Namespace, url: URL) -> dict:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    sizes = {"small": args.small, "large": args.large}
    stores, eventstores, facts = {}, {}, {}
    setup = create_engine(url, isolation_level="AUTOCOMMIT")
    with setup.connect() as conn:
        if args.reuse:  # the histories end where the kept run's did
            end = conn.execute(text("SELECT max(inspected_at) FROM small.inspections "
                                    "WHERE part_id LIKE 'P%'")).scalar()  # not the timed writes
            end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        else:
            for name in sizes:
                conn.execute(text(f"CREATE SCHEMA {name}"))
    setup.dispose()
    for name, parts in sizes.items():
        schema_url = url.update_query_dict({"options": f"-csearch_path={name}"})
        stores[name] = InspectionStore.open(schema_url.render_as_string(hide_password=False))
        eventstores[name] = EventStore(stores[name].engine)
        if args.reuse:
            facts[name] = _held(stores[name])
        else:
            log(f"{name}: generating {parts:,} inspections")
            facts[name] = fill(stores[name], parts, args.per_day, end)
    lookups, writes, causes = _timed_reps(args, stores, eventstores, facts, sizes, end)
    for store in stores.values():
        store.close()
    serial_ms = {n: round(statistics.median(v), 3) for n, v in lookups.items()}
    cause_s = {n: round(statistics.median(v), 3) for n, v in causes.items()}
    write_ms = {n: round(statistics.median(v), 1) for n, v in writes.items()}
    return {
        "bench": "pg_scale", "cpu": cpu_model(), "load_avg": [round(x, 2) for x in os.getloadavg()],
        "per_day": args.per_day, "seconds_between_parts": round(86400.0 / args.per_day, 3), "reps": args.reps,
        "lookups_per_rep": args.lookups, "reused": args.reuse,
        "small": facts["small"], "large": facts["large"],
        "serial_lookup_ms": serial_ms,
        "serial_lookup_ratio": round(serial_ms["large"] / serial_ms["small"], 2),
        "root_cause_day_s": cause_s,
        "root_cause_ratio": round(cause_s["large"] / cause_s["small"], 2),
        "write_batch": args.batch, "write_batch_ms": write_ms,
        "write_batch_ratio": round(write_ms["large"] / write_ms["small"], 2),
        "target": "each ratio (10M / 100k) within 2x",
    }


if __name__ == "__main__":
    print(json.dumps(main(get_args_parser().parse_args())))
