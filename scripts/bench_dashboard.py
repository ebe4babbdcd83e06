"""Benchmark: every dashboard page over a database of 1,000,000 parts (issue 33: each < 1 s).

`inspector serve` over a SQLite file filled like scripts/bench_stats.py (two stations, 30 days);
Debian's chromium (never `playwright install`) opens each page with a viewer key and times from
navigation to the last answer of the API calls the page makes as it loads. One JSON line.

    python scripts/bench_dashboard.py --db /tmp/bench_stats_1m.db
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
from bench_ingest_api import free_port, start_server, wait_ready
from bench_stats import create_key, fill

from inspector.machine import cpu_model

PAGES = ("/", "/review", "/analytics", "/models", "/health", "/parts?verdict=NG",
         "/parts/p000500000", "/serials/SN000500000")
SETTLE_S = 2.5       # time given to the first calls to be answered (more than the target)
FIRST_ROUND_S = 0.3  # calls started this soon after the load event are the page's own loading


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--loads", type=int, default=3, help="timed loads per page (median reported)")
    p.add_argument("--db", type=Path, default=None, help="SQLite file (kept; reused when full)")
    return p


def page_ms(page, url: str) -> tuple[float, int]:
    """Milliseconds from navigation to the last answer of the API calls the page starts as it
    loads (a polling page's later rounds do not count)."""
    asked: dict[object, float] = {}
    answered: dict[object, float] = {}
    page.on("request", lambda r: "/api/v1/" in r.url and asked.setdefault(r, time.perf_counter()))
    page.on("requestfinished", lambda r: answered.setdefault(r, time.perf_counter()))
    started = time.perf_counter()
    page.goto(url, wait_until="load")
    loaded = time.perf_counter()
    page.wait_for_timeout(SETTLE_S * 1000)
    first = [r for r, t in asked.items() if t <= loaded + FIRST_ROUND_S]
    if not first or any(r not in answered for r in first):
        return float("nan"), len(first)
    return (max(answered[r] for r in first) - started) * 1000, len(first)


def measure(base: str, key: str, loads: int) -> dict[str, dict]:
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        for path in PAGES:
            times, calls = [], 0
            for _ in range(loads):
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                context.add_init_script(f"sessionStorage.setItem('inspector.key', {key!r});")
                ms, calls = page_ms(context.new_page(), base + path)
                times.append(ms)
                context.close()
            results[path] = {"median_ms": round(statistics.median(times), 1),
                             "max_ms": round(max(times), 1), "api_calls": calls}
        browser.close()
    return results


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if shutil.which("chromium") is None:
        raise SystemExit("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{args.db or Path(tmp) / 'inspector.db'}"
        fill(url, args.rows, args.days)
        key, port = create_key(url), free_port()
        proc = start_server(url, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=600.0,
                              headers={"X-API-Key": key}) as client:
                wait_ready(client, proc)
            pages = measure(f"http://127.0.0.1:{port}", key, args.loads)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    slowest = max(v["median_ms"] for v in pages.values())
    print(json.dumps({"bench": "dashboard", "rows": args.rows, "days": args.days, "db": "sqlite",
                      "cpu": cpu_model(), "pages": pages, "slowest_median_ms": slowest}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
