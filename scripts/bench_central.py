"""The central service's own costs: a part image fetched through its station, and GET /fleet.

Two real `inspector serve` processes: a station over its SQLite with an image archive, and the
central service (`--central`) over its own database (SQLite, or a fresh schema of --pg, dropped
at the end) holding the same parts, the station's registry row (its address) and a fleet of
--fleet-stations other stations with --days of hourly parts each. The client asks, in
alternating rounds, for images straight from the station (A) and through the central service
(B), and then for /fleet over the whole span.

Prints one JSON line: image p50 direct and through (median of the rounds' p50s) and their
ratio, /fleet p50 and p99 over the whole span and over its default window (the last 24 hours),
the central process's peak memory (VmHWM); CPU and load average.

    python scripts/bench_central.py [--rounds 5] [--requests 40] [--fleet-stations 50] [--days 30]
                                    [--pg URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest_api import free_port, wait_ready
from bench_pg import throwaway_schema

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.machine import cpu_model
from inspector.storage.engine import sqlite_url
from inspector.storage.keys import KeyStore
from inspector.storage.store import InspectionStore
from inspector.storage.tables import stations

PG_ENV = "INSPECTOR_TEST_PG_URL"
STATION = "bench-station"
PARTS = 200  # parts with an archived image on the station


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds of A and B")
    p.add_argument("--requests", type=int, default=40, help="image requests per round and side")
    p.add_argument("--fleet-stations", type=int, default=50)
    p.add_argument("--days", type=int, default=30, help="hours of parts per fleet station")
    p.add_argument("--pg", default=None, help=f"central on PostgreSQL (e.g. ${PG_ENV})")
    p.add_argument("--old-status", action="store_true", help="status rows without model_version "
                   "(stations before it was there): /fleet looks up each one's newest part")
    return p


def _part(part_id: str, station: str, at: datetime, image: str | None) -> Inspection:
    verdict = Verdict.NG if hash(part_id) % 10 == 0 else Verdict.OK
    return Inspection(part_id=part_id, station_id=station, serial=f"S-{part_id}",
                      serial_source=SerialSource.CODE, captured_at=at, inspected_at=at,
                      status=Status.OK, verdict=verdict, label="crack" if verdict is Verdict.NG
                      else "free", defect_score=0.5, scores={"free": 0.5}, model_version="bench",
                      image_path=image)


def _crop(seed: int) -> bytes:
    """A 448 x 448 JPEG like an archived crop (smooth part, some texture): ~40-60 KB."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(60, 190, 448, dtype=np.float32)
    gray = ramp[None, :] + ramp[:, None] / 3 + rng.normal(0, 12, (448, 448)).astype(np.float32)
    img = np.clip(np.stack([gray] * 3, axis=-1), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def _station(root: Path, t0: datetime) -> tuple[str, str, list[Inspection], int]:
    """The station's database and archive; (db url, its viewer key, the parts, image bytes)."""
    images = root / "images"
    rows, size = [], 0
    for i in range(PARTS):
        rel = f"2026-01-01/NG/p{i}.jpg"
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        data = _crop(i)
        size += len(data)
        (images / rel).write_bytes(data)
        rows.append(_part(f"p{i}", STATION, t0 + timedelta(seconds=i), rel))
    url = sqlite_url(root)
    store = InspectionStore.open(url)
    try:
        store.write(rows)
        key = KeyStore(store.engine).create("central", "viewer", actor="bench").secret
    finally:
        store.close()
    return url, key, rows, size // PARTS


def _central(url: str, rows: list[Inspection], station_url: str, fleet: int, days: int,
             t0: datetime, old_status: bool = False) -> str:
    """The central database: the station's parts and address, and the fleet's hourly parts."""
    store = InspectionStore.open(url)
    try:
        store.write(rows)
        now = datetime.now(UTC)
        contact = {"first_contact_at": now, "last_contact_at": now, "lag_rows": 0,
                   "lag_seconds": 0.0, "forwarder": {}}
        with store.engine.begin() as conn:
            conn.execute(stations.insert(), [{"station_id": STATION, "api_url": station_url,
                                              **contact}])
            conn.execute(stations.insert(), [{"station_id": f"fleet-{s:03d}", "api_url": None,
                                              **contact} for s in range(fleet)])
        for s in range(fleet):
            store.write([replace(_part(f"f{s}-{h}", f"fleet-{s:03d}", t0 + timedelta(hours=h),
                                       None))
                         for h in range(days * 24)])
            status = {"camera_state": "streaming", "camera_online": True, "alarms": []}
            if not old_status:  # a station's status row names its model (older ones did not)
                status["model_version"] = "bench"
            store.set_station_status(f"fleet-{s:03d}", status)
        return KeyStore(store.engine).create("bench", "viewer", actor="bench").secret
    finally:
        store.close()


def _serve(db: str, data_dir: Path, port: int, central: bool,
           env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "inspector.cli", "serve", "--host", "127.0.0.1", "--port",
           str(port), "--db", db, "--data-dir", str(data_dir), "--log-level", "warning",
           "--central" if central else "--no-central"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **env})


def _p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def _image_round(client: httpx.Client, requests: int, offset: int) -> float:
    """p50 in ms of `requests` image GETs of different parts."""
    times = []
    for i in range(requests):
        t = time.perf_counter()
        r = client.get(f"/inspections/p{(offset + i) % PARTS}/image")
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text[:200]
    return statistics.median(times)


def _fleet(client: httpx.Client, params: dict[str, str], stations: int) -> list[float]:
    """Milliseconds of 20 GET /fleet (after one warm-up) over the window of `params`."""
    client.get("/fleet", params=params)
    times = []
    for _ in range(20):
        t = time.perf_counter()
        body = client.get("/fleet", params=params).json()
        times.append((time.perf_counter() - t) * 1000)
        assert body["count"] == stations, body
    return times


def _peak_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


@contextlib.contextmanager
def _central_db(args: argparse.Namespace, root: Path):
    """The central database: a throw-away schema on --pg, or SQLite in the bench's folder."""
    if args.pg:
        with throwaway_schema(args.pg, "bench_central") as url:
            yield url
    else:
        yield sqlite_url(root / "central")


def _measure(args: argparse.Namespace, root: Path, central_db: str, station_db: str,
             station_key: str, rows: int, t0: datetime) -> dict[str, object]:
    """Serve a station and the central side; time images direct vs through, and the fleet view."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        station_port, central_port = free_port(), free_port()
        station_url = f"http://127.0.0.1:{station_port}"
        central_key = _central(central_db, rows, station_url, args.fleet_stations, args.days, t0,
                               args.old_status)
        procs.append(_serve(station_db, root / "station", station_port, False, {}))
        procs.append(_serve(central_db, root / "central", central_port, True,
                            {"INSPECTOR_STATION_API_KEY": station_key}))
        direct = httpx.Client(base_url=f"{station_url}/api/v1",
                              headers={"X-API-Key": station_key}, timeout=30)
        through = httpx.Client(base_url=f"http://127.0.0.1:{central_port}/api/v1",
                               headers={"X-API-Key": central_key}, timeout=30)
        wait_ready(direct, procs[0])
        wait_ready(through, procs[1])
        _image_round(direct, 10, 0)  # warm both paths
        _image_round(through, 10, 0)
        a, b = [], []
        for r in range(args.rounds):  # A and B alternated, so drift in load hits both
            a.append(_image_round(direct, args.requests, r * args.requests))
            b.append(_image_round(through, args.requests, r * args.requests))
        span = {"since": t0.isoformat(), "until": datetime.now(UTC).isoformat()}
        fleet_ms = {name: _fleet(through, params, args.fleet_stations + 1)
                    for name, params in (("span", span), ("24h", {}))}
        return {"a": a, "b": b, "fleet_ms": fleet_ms, "peak": _peak_mb(procs[1].pid)}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def main(args: argparse.Namespace) -> dict[str, object]:
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=args.days)
    with tempfile.TemporaryDirectory(prefix="bench-central-") as tmp:
        root = Path(tmp)
        station_db, station_key, rows, image_bytes = _station(root / "station", t0)
        with _central_db(args, root) as central_db:
            m = _measure(args, root, central_db, station_db, station_key, rows, t0)
    a, b, fleet_ms = m["a"], m["b"], m["fleet_ms"]
    ratios = [y / x for x, y in zip(a, b, strict=True)]
    result = {
        "bench": "central", "central_db": "postgresql" if args.pg else "sqlite",
        "image_kb": round(image_bytes / 1024, 1), "rounds": args.rounds,
        "requests_per_round": args.requests,
        "image_ms_p50_direct": round(statistics.median(a), 2),
        "image_ms_p50_through_central": round(statistics.median(b), 2),
        "through_over_direct": round(statistics.median(ratios), 2),
        "fleet_stations": args.fleet_stations + 1, "fleet_days": args.days,
        "status_names_model": not args.old_status,
        "fleet_ms_p50_span": _p(fleet_ms["span"], 50), "fleet_ms_p99_span": _p(fleet_ms["span"], 99),
        "fleet_ms_p50_24h": _p(fleet_ms["24h"], 50), "fleet_ms_p99_24h": _p(fleet_ms["24h"], 99),
        "central_peak_mb": m["peak"], "cpu": cpu_model(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
