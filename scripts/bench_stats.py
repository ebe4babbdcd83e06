"""GET /stats over 30 days and GET /inspections.csv over 1,000,000 rows, on real HTTP (SQLite).

Prints one JSON line: rows, write rate (rollups included), /stats p50/p99 ms (all stations and
one), CSV export seconds and the server's RSS before, during and after the export.
    python scripts/bench_stats.py [--rows 1000000] [--days 30] [--requests 60] [--db FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest_api import free_port, start_server, wait_ready

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.storage.store import InspectionStore

START = datetime(2024, 5, 1, tzinfo=UTC)
DEFECTS = ("crack", "blowhole", "break", "fray", "uneven")
BATCH = 5_000


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="inspections to generate")
    parser.add_argument("--days", type=int, default=30, help="time span of the rows")
    parser.add_argument("--requests", type=int, default=60, help="timed /stats requests per kind")
    parser.add_argument("--db", type=Path, default=None,
                        help="SQLite file to fill (kept; reused when it already has the rows)")
    return parser


def part(i: int, rows: int, days: int, rng: random.Random) -> Inspection:
    """Two stations; ~92% OK, 3% REVIEW, 5% NG over five classes; 1% no-reads; some no_frame."""
    at = START + timedelta(seconds=i * days * 86_400 / rows)
    roll = rng.random()
    verdict = Verdict.OK if roll < 0.92 else Verdict.REVIEW if roll < 0.95 else Verdict.NG
    label = "good" if verdict is Verdict.OK else rng.choice(DEFECTS)
    status = Status.NO_FRAME if rng.random() < 0.002 else Status.OK
    return Inspection(
        part_id=f"p{i:09d}", station_id=f"st-{i % 2}", serial=f"SN{i:09d}",
        serial_source=SerialSource.NO_READ if rng.random() < 0.01 else SerialSource.CODE,
        captured_at=at, inspected_at=at, status=status, verdict=verdict,
        label=None if status is Status.NO_FRAME else label, defect_score=roll,
        scores={"good": 1 - roll, "crack": roll}, model_version="tile-resnet@bench",
        threshold_ng=0.5, threshold_review=0.2, latency_ms=12.5,
    )


def fill(url: str, rows: int, days: int) -> float:
    """Write the rows through InspectionStore.write (rollups on write); rows per second."""
    store = InspectionStore.open(url)
    rng = random.Random(7)
    try:
        have = sum(store.counts().values())
        if have >= rows:
            return 0.0
        t0 = time.perf_counter()
        for start in range(have, rows, BATCH):
            store.write([part(i, rows, days, rng) for i in range(start, min(rows, start + BATCH))])
        return (rows - have) / (time.perf_counter() - t0)
    finally:
        store.close()


def create_key(url: str) -> str:
    cmd = [sys.executable, "-m", "inspector.cli", "keys", "create", "--role", "viewer",
           "--name", "bench-stats", "--db", url]
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1]


def stats_ms(client: httpx.Client, days: int, requests: int, **params: str) -> dict:
    window = {"since": START.isoformat(), "until": (START + timedelta(days=days)).isoformat()}
    client.get("/stats", params={**window, **params}).raise_for_status()  # warm-up
    times = []
    for _ in range(requests):
        t0 = time.perf_counter()
        response = client.get("/stats", params={**window, **params})
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "parts": response.json()["total"]["parts"]}


def memory_kb(pid: int) -> dict[str, int]:
    """The server's current (VmRSS) and peak (VmHWM) resident memory."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "peak_kb": int(fields["VmHWM"].split()[0])}


def export_csv(client: httpx.Client, pid: int, rows: int) -> dict:
    """Stream the whole export, sampling the server's RSS every ~10% of the rows."""
    before, samples, lines, size = memory_kb(pid), [], 0, 0
    t0 = time.perf_counter()
    with client.stream("GET", "/inspections.csv") as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\n")
            if len(samples) < lines * 10 // max(rows, 1):
                samples.append(memory_kb(pid)["rss_kb"])
    seconds = time.perf_counter() - t0
    after = memory_kb(pid)
    return {"csv_rows": lines - 1, "csv_mb": round(size / 2**20, 1), "csv_seconds": round(seconds, 1),
            "server_rss_mb_before": round(before["rss_kb"] / 1024, 1),
            "server_peak_rss_mb_before": round(before["peak_kb"] / 1024, 1),
            "server_rss_mb_during": [round(kb / 1024) for kb in samples],
            "server_peak_rss_mb_after": round(after["peak_kb"] / 1024, 1)}


def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{args.db or Path(tmp) / 'inspector.db'}"
        write_rate = fill(url, args.rows, args.days)
        key, port = create_key(url), free_port()
        proc = start_server(url, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=600.0,
                              headers={"X-API-Key": key}) as client:
                wait_ready(client, proc)
                all_stations = stats_ms(client, args.days, args.requests)
                one_station = stats_ms(client, args.days, args.requests, station_id="st-0")
                export = export_csv(client, proc.pid, args.rows)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    result = {"bench": "stats", "rows": args.rows, "days": args.days, "db": "sqlite",
              "write_rows_per_s": round(write_rate), "stats_all": all_stations,
              "stats_one_station": one_station, **export, "target_stats_ms": 100}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
