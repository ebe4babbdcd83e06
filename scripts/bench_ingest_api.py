"""Bulk ingestion through the HTTP API: real uvicorn in a subprocess, httpx posting batches.

Prints one JSON line: events/s over the timed batches (fresh events: every one is stored).
    python scripts/bench_ingest_api.py [--events 50000] [--batch 1000] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

START = datetime(2024, 5, 1, tzinfo=UTC)
STARTUP_TIMEOUT_S = 60.0


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events to post (timed)")
    parser.add_argument("--batch", type=int, default=1_000, help="events per POST")
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first")
    return parser


def batches(count: int, size: int, offset: int = 0, prefix: str = "B") -> list[list[dict]]:
    """Realistic events: 4 machines, 3 parameters each, distinct serials."""
    out, batch = [], []
    for i in range(offset, offset + count):
        part, machine = divmod(i, 4)
        at = START + timedelta(seconds=part * 6 + machine * 60)
        batch.append({"serial": f"{prefix}{part:09d}", "machine": f"m-{machine}", "step": f"s{machine}",
                      "timestamp": at.isoformat(), "parameters": {
                          "temperature": 850.0 + (i % 17), "force_kN": 120.5, "lot": "L007"}})
        if len(batch) == size:
            out.append(batch)
            batch = []
    if batch:
        out.append(batch)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_key(db: str) -> str:
    """An operator key for the bench (`inspector keys create` prints it as its last line)."""
    cmd = [sys.executable, "-m", "inspector.cli", "keys", "create", "--role", "operator",
           "--name", "bench-ingest", "--db", db]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def start_server(db: str, port: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "inspector.cli", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--db", db, "--log-level", "warning"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_ready(client: httpx.Client, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("server did not answer /health in time")


def post_all(client: httpx.Client, work: list[list[dict]]) -> int:
    stored = 0
    for batch in work:
        body = json.dumps(batch).encode()
        response = client.post("/events", content=body,
                               headers={"content-type": "application/json"})
        response.raise_for_status()
        stored += response.json()["stored"]
    return stored


def main(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or f"sqlite:///{Path(tmp) / 'inspector.db'}"
        port = free_port()
        key = create_key(db)
        proc = start_server(db, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=60.0,
                              headers={"X-API-Key": key}) as client:
                wait_ready(client, proc)
                run = f"B{uuid.uuid4().hex[:6]}-"  # fresh serials: a kept database works too
                post_all(client, batches(args.warmup * args.batch, args.batch, 10**8, run))
                work = batches(args.events, args.batch, 0, run)
                t0 = time.perf_counter()
                stored = post_all(client, work)
                seconds = time.perf_counter() - t0
                again = post_all(client, work[:1])  # idempotent: a re-post stores nothing
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    result = {"bench": "ingest_api", "events": args.events, "batch": args.batch,
              "stored": stored, "repost_stored": again, "seconds": round(seconds, 3),
              "events_per_s": round(args.events / seconds, 1),
              "db": db.split(":")[0], "target_events_per_s": 5000}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
