"""A fleet forwarding into one PostgreSQL: 8 station processes at 10 parts/s each, for N minutes.

Each station is its own process with its own SQLite database, writing parts (and an upstream
event per part) through InspectionStore and EventStore while its forwarder thread ships them to
the central database (a fresh schema of --pg, dropped at the end). Meanwhile a central API
(`inspector serve` over that schema) is asked for inspections, stats and root cause in turn.
After production stops the queues drain; then every station's parts are counted centrally.

Prints one JSON line: parts produced, lost, duplicated, rollup drift, forwarder lag (p50/p99/max
of the age of the oldest queued row, sampled every 0.5 s on every station), drain time, the
stations' write p99 and the central API's p50/p99 per endpoint; CPU and load average.

    python scripts/bench_fleet.py [--stations 8] [--minutes 5] [--rate 10] [--pg URL] [--no-api]
    python scripts/bench_fleet.py --write-cost [--rounds 6]   # what the forward triggers cost a write
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest_api import free_port, wait_ready
from bench_pg import throwaway_schema

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.machine import cpu_model
from inspector.storage.engine import sqlite_url
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.forward_queue import ForwardQueue
from inspector.storage.forwarder import Forwarder, ForwardSettings
from inspector.storage.keys import KeyStore
from inspector.storage.store import InspectionStore
from inspector.storage.tables import inspection_rollups, inspections

PG_ENV = "INSPECTOR_TEST_PG_URL"
DRAIN_TIMEOUT_S = 300.0
LAG_EVERY_S = 0.5
DEFECTS = ("crack", "blowhole")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=8)
    p.add_argument("--minutes", type=float, default=5.0, help="production time")
    p.add_argument("--rate", type=float, default=10.0, help="parts per second per station")
    p.add_argument("--pg", default=os.environ.get(PG_ENV), help=f"PostgreSQL URL (default ${PG_ENV})")
    p.add_argument("--no-api", action="store_true", help="do not run and query the central API")
    p.add_argument("--write-cost", action="store_true",
                   help="instead: a station's write time with the forward triggers vs without "
                        "(alternated rounds, median ratio); needs no PostgreSQL")
    p.add_argument("--rounds", type=int, default=6, help="--write-cost rounds")
    return p


def write_cost(rounds: int, parts: int = 200) -> dict:
    """Per-part write time (one part a transaction, as a station at line pace writes) into a
    database that forwards (triggers queue each row) and one that does not, alternated."""
    ratios, plain_ms, forwarding_ms = [], [], []
    with tempfile.TemporaryDirectory(prefix="bench-write-cost-") as tmp:
        plain = InspectionStore.open(sqlite_url(Path(tmp) / "plain"))
        forwarding = InspectionStore.open(sqlite_url(Path(tmp) / "forwarding"))
        ForwardQueue(forwarding.engine).enable("bench", "central")
        rng = random.Random(0)
        try:
            for r in range(rounds):
                timed = {}
                order = [("plain", plain), ("forwarding", forwarding)]
                for name, store in order if r % 2 == 0 else order[::-1]:
                    began = time.perf_counter()
                    for i in range(parts):
                        store.write([make_part("bench", r * parts + i, datetime.now(UTC), rng)])
                    timed[name] = (time.perf_counter() - began) * 1000 / parts
                plain_ms.append(timed["plain"])
                forwarding_ms.append(timed["forwarding"])
                ratios.append(timed["forwarding"] / timed["plain"])
        finally:
            plain.close()
            forwarding.close()
    return {"rounds": rounds, "parts_per_round": parts,
            "plain_ms_per_part": round(statistics.median(plain_ms), 2),
            "forwarding_ms_per_part": round(statistics.median(forwarding_ms), 2),
            "ratio_median": round(statistics.median(ratios), 3),
            "ratios": [round(x, 3) for x in ratios],
            "cpu": cpu_model(), "cores": os.cpu_count(),
            "loadavg": [round(x, 2) for x in os.getloadavg()]}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def make_part(station: str, i: int, at: datetime, rng: random.Random) -> Inspection:
    ng = rng.random() < 0.05
    label = rng.choice(DEFECTS) if ng else "good"
    return Inspection(part_id=f"{station}-{i:07d}", station_id=station, serial=f"{station}-SN{i:07d}",
                      serial_source=SerialSource.CODE, captured_at=at, inspected_at=at,
                      status=Status.OK, verdict=Verdict.NG if ng else Verdict.OK, label=label,
                      defect_score=0.9 if ng else 0.05, scores={label: 0.9},
                      model_version="bench", threshold_ng=0.5, threshold_review=0.2)


def station_main(index: int, folder: str, central: str, seconds: float, rate: float,
                 results: multiprocessing.Queue) -> None:
    """One station: produce at `rate` for `seconds`, forwarding all along; then drain."""
    station = f"bench-st{index:02d}"
    store = InspectionStore.open(sqlite_url(folder))
    events = EventStore(store.engine)
    queue = ForwardQueue(store.engine)
    queue.enable(station, "central")
    forwarder = Forwarder(store.engine.url.render_as_string(hide_password=False),
                          ForwardSettings(station_id=station, central_url=central, heartbeat_s=2.0))
    forwarder.start()
    rng = random.Random(index)
    lags: list[float] = []
    writes_ms: list[float] = []
    produced = 0
    start = time.monotonic()
    next_sample = start
    while (now := time.monotonic()) - start < seconds:
        due = start + produced / rate
        if now < due:
            time.sleep(min(due - now, max(0.0, next_sample - now)) or 0.001)
        else:
            at = datetime.now(UTC)
            part = make_part(station, produced, at, rng)
            began = time.perf_counter()
            events.write([ProcessEvent(part.serial, f"press-{index % 3}", "form",
                                       at - timedelta(seconds=30),
                                       {"force_kn": round(rng.gauss(50, 2), 2)})])
            store.write([part])
            writes_ms.append((time.perf_counter() - began) * 1000)
            produced += 1
        if time.monotonic() >= next_sample:
            lags.append(queue.lag().seconds())
            next_sample += LAG_EVERY_S
    drain_started = time.monotonic()
    while queue.lag().rows and time.monotonic() - drain_started < DRAIN_TIMEOUT_S:
        time.sleep(0.2)
    drain_s = time.monotonic() - drain_started
    left = queue.lag().rows
    forwarder.stop()
    store.close()
    results.put({"station": station, "produced": produced, "left": left, "lags": lags,
                 "writes_ms": writes_ms, "drain_s": drain_s,
                 "forward_errors": forwarder.stats.errors, "last_error": forwarder.stats.last_error})


def api_load(base: str, key: str, stop: threading.Event, timings: dict[str, list[float]]) -> None:
    """Ask the central API for each endpoint in turn, one request at a time, until stopped."""
    paths = {"inspections": "/inspections?limit=100", "stats": "/stats",
             "root_cause": "/root-cause"}
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=60) as client:
        while not stop.is_set():
            for name, path in paths.items():
                began = time.perf_counter()
                response = client.get(path)
                elapsed = (time.perf_counter() - began) * 1000
                if response.status_code in (200, 422):  # 422: root cause with too little data yet
                    timings[name].append(elapsed)
                else:
                    timings.setdefault(f"{name}_errors", []).append(response.status_code)
            stop.wait(0.5)


def central_counts(url: str) -> dict[str, dict[str, int]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            c = inspections.c
            rows = conn.execute(select(c.station_id, func.count(), func.count(c.part_id.distinct()))
                                .group_by(c.station_id)).all()
            rolled = dict(conn.execute(select(inspection_rollups.c.station_id,
                                              func.sum(inspection_rollups.c.parts))
                                       .group_by(inspection_rollups.c.station_id)).all())
    finally:
        engine.dispose()
    return {s: {"rows": n, "distinct": d, "rollups": int(rolled.get(s, 0))} for s, n, d in rows}


def _run_fleet(args: argparse.Namespace, central: str, base: str | None, key: str,
               timings: dict) -> list[dict]:
    """Start the station processes (and the API load), wait for every station's report."""
    stop = threading.Event()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        seconds = args.minutes * 60
        procs = [ctx.Process(target=station_main,
                             args=(i, str(Path(tmp) / f"st{i}"), central, seconds, args.rate,
                                   results)) for i in range(args.stations)]
        for proc in procs:
            proc.start()
        loader = None
        if base is not None:
            loader = threading.Thread(target=api_load, args=(base, key, stop, timings))
            loader.start()
        reports = [results.get(timeout=seconds + DRAIN_TIMEOUT_S + 120) for _ in procs]
        stop.set()
        if loader is not None:
            loader.join()
        for proc in procs:
            proc.join(30)
    return reports


def main(args: argparse.Namespace) -> dict:
    if not args.pg:
        raise SystemExit(f"give --pg or set {PG_ENV}")
    server = None
    timings: dict = {"inspections": [], "stats": [], "root_cause": []}
    with throwaway_schema(args.pg, "bench_fleet") as central:
        try:
            InspectionStore.open(central).close()  # migrated once, before the stations race to it
            keys_engine = create_engine(central)
            key = KeyStore(keys_engine).create("bench-fleet", "viewer", actor="bench").secret
            keys_engine.dispose()
            base = None
            if not args.no_api:
                port = free_port()
                server = _serve(central, port)
                base = f"http://127.0.0.1:{port}/api/v1"
                with httpx.Client(base_url=base) as client:
                    wait_ready(client, server)
            reports = _run_fleet(args, central, base, key, timings)
            counts = central_counts(central)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
    return _summary(args, reports, counts, timings)


def _summary(args: argparse.Namespace, reports: list[dict], counts: dict, timings: dict) -> dict:
    """The JSON line: parts produced, stored once, lost, lag, write times, the API's latencies."""
    produced = sum(r["produced"] for r in reports)
    stored = {r["station"]: counts.get(r["station"], {"rows": 0, "distinct": 0, "rollups": 0})
              for r in reports}
    lost = sum(max(0, r["produced"] - stored[r["station"]]["distinct"]) for r in reports)
    duplicated = sum(s["rows"] - s["distinct"] for s in stored.values())
    rollup_drift = sum(abs(s["rollups"] - s["rows"]) for s in stored.values())
    lags = [lag for r in reports for lag in r["lags"]]
    writes = [w for r in reports for w in r["writes_ms"]]

    def ms(values: list[float], q: float) -> float | None:
        v = percentile(values, q)
        return None if v is None else round(v, 1)

    api = {name: {"n": len(v), "p50_ms": ms(v, 0.5), "p99_ms": ms(v, 0.99)}
           for name, v in timings.items() if not name.endswith("_errors")}
    api.update({name: len(v) for name, v in timings.items() if name.endswith("_errors")})
    return {
        "stations": args.stations, "minutes": args.minutes, "rate": args.rate,
        "parts": produced, "stored": sum(s["distinct"] for s in stored.values()),
        "lost": lost, "duplicated": duplicated, "rollup_drift": rollup_drift,
        "left_in_queues": sum(r["left"] for r in reports),
        "lag_s": {"p50": ms(lags, 0.5), "p99": ms(lags, 0.99), "max": ms(lags, 1.0)},
        "drain_s_max": round(max(r["drain_s"] for r in reports), 1),
        "station_write_ms": {"p50": ms(writes, 0.5), "p99": ms(writes, 0.99)},
        "forward_errors": sum(r["forward_errors"] for r in reports),
        "forward_last_errors": sorted({r["last_error"] for r in reports if r["last_error"]}),
        "central_api": None if args.no_api else api,
        "cpu": cpu_model(), "cores": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def _serve(central: str, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "inspector.cli", "serve", "--host", "127.0.0.1", "--port",
           str(port), "--db", central, "--log-level", "warning"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


if __name__ == "__main__":
    arguments = get_args_parser().parse_args()
    print(json.dumps(write_cost(arguments.rounds) if arguments.write_cost else main(arguments)))
