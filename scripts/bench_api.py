"""Benchmark: the station's API under 50 concurrent clients while the station runs at full rate.

One station process (folder source looping over the sample tiles, per-frame trigger, the shipped
model, SQLite, its API in-process). Windows without and with client load alternate; the clients
(a separate process, as on a line network) read /inspections, /stats and part images. Prints one
JSON line: station parts/s without and with load (median of the windows, and their ratio), API
p50/p99 per route, requests, errors, and whether every triggered part got its row.

    python scripts/bench_api.py --seconds 60 --rounds 2 --clients 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inspector.machine import cpu_model

ROUTES = ("inspections", "stats", "image", "frame", "station")
POLLED = ("inspections", "stats", "image")  # what a 1 Hz dashboard poller asks, in turn
# What the dashboard's live page asks, and how often (seconds): inspector/api/dashboard/static/live.js
LIVE_PAGE = {"frame": 0.5, "station": 1.0, "inspections": 1.0, "image": 1.0, "stats": 10.0}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"))
    p.add_argument("--seconds", type=float, default=60.0, help="length of each window")
    p.add_argument("--rounds", type=int, default=2, help="(no load, load) window pairs")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--think-s", type=float, default=1.0,
                   help="pause of each client between its requests (a dashboard polling at 1 Hz); "
                        "0: every client sends as fast as answers come")
    p.add_argument("--viewer", action="store_true",
                   help="each client is the dashboard's live page (frame 2 Hz, status, last parts, "
                        "stats) instead of a 1 Hz poller of inspections, stats and images")
    p.add_argument("--client", default=None, help=argparse.SUPPRESS)  # internal: client process
    p.add_argument("--key", default=None, help=argparse.SUPPRESS)
    return p


# ---- the client process ----------------------------------------------------------------------


async def _timed_get(client, route: str, path: str, times: dict, errors: list):
    """GET path, its milliseconds under `route`; failures counted, whatever they are."""
    t0 = time.perf_counter()
    response = None
    try:
        response = await client.get(path)
        if response.status_code >= 500 or response.status_code in (401, 403):
            errors.append(f"{route} {response.status_code}")
    except Exception as exc:  # a benchmark counts every failure
        errors.append(f"{route} {type(exc).__name__}")
    times[route].append((time.perf_counter() - t0) * 1000)
    return response


async def _client_loop(client, deadline: float, part_ids: list[str], times: dict, errors: list,
                       think_s: float):
    i = 0
    while time.monotonic() < deadline:
        route = POLLED[i % len(POLLED)]
        path = {"inspections": "/inspections?limit=50", "stats": "/stats",
                "image": f"/inspections/{part_ids[i % len(part_ids)]}/image"}[route]
        await _timed_get(client, route, path, times, errors)
        i += 1
        await asyncio.sleep(think_s)


async def _live_page(client, deadline: float, times: dict, errors: list) -> None:
    """The live page's polling: each route at its own period, as live.js does it."""
    due = dict.fromkeys(LIVE_PAGE, 0.0)
    newest = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        for route, period in LIVE_PAGE.items():
            if now < due[route] or (route == "image" and newest is None):
                continue
            due[route] = now + period
            path = {"frame": "/station/frame", "station": "/station", "stats": "/stats",
                    "inspections": "/inspections?limit=9",
                    "image": f"/inspections/{newest}/image"}[route]
            response = await _timed_get(client, route, path, times, errors)
            if route == "inspections" and response is not None and response.status_code == 200:
                items = response.json()["items"]
                newest = next((r["part_id"] for r in items if r.get("image_path")), newest)
        await asyncio.sleep(0.05)


async def _clients(base: str, key: str, n: int, seconds: float, think_s: float,
                   viewer: bool = False) -> dict:
    import httpx

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": key}, timeout=60,
                                 limits=limits) as client:
        listed = (await client.get("/inspections?limit=200")).json()["items"]
        part_ids = [r["part_id"] for r in listed if r.get("image_path")] or ["none"]
        times: dict[str, list[float]] = {r: [] for r in ROUTES}
        errors: list[str] = []
        deadline = time.monotonic() + seconds
        if viewer:
            await asyncio.gather(*(_live_page(client, deadline, times, errors) for _ in range(n)))
        else:
            await asyncio.gather(*(_client_loop(client, deadline, part_ids[k:] + part_ids[:k],
                                                times, errors, think_s) for k in range(n)))
    return {"times": times, "errors": errors}


# ---- the station process ---------------------------------------------------------------------


def _tiles(images: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for i, tile in enumerate(sorted(images.rglob("*.jpg"))):
        shutil.copy(tile, folder / f"{i:03d}-{tile.name}")
    return folder


def _station(args, work: Path):
    from inspector.commands.api_server import station_api
    from inspector.config import StationConfig
    from inspector.pipeline.station import Station
    from inspector.storage.keys import KeyStore
    from inspector.storage.store import InspectionStore

    cfg = StationConfig.model_validate({
        "station": {"id": "bench", "data_dir": str(work / "data")},
        "source": {"type": "folder", "path": str(_tiles(args.images, work / "tiles")), "loop": True},
        "trigger": {"type": "per_frame"},
        "model": {"bundle": str(args.model)},
        "storage": {"images": {"ok_sample_rate": 1.0}},
        "api": {"port": 0},
        "outputs": [],
    })
    store = InspectionStore.open(cfg.db_url())
    key = KeyStore(store.engine).create("bench", "viewer", actor="bench").secret
    station = Station.from_config(cfg, store=store)
    return cfg, station, station_api(cfg, station), key


def _window(station, seconds: float, load=None) -> float:
    before, t0 = station.metrics().parts, time.monotonic()
    time.sleep(seconds)
    if load is not None:
        load.wait(timeout=seconds + 120)
    return (station.metrics().parts - before) / (time.monotonic() - t0)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q / 100 * len(values)))], 1)


def run(args) -> dict:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        cfg, station, serving, key = _station(args, Path(tmp))
        with serving as address:
            station.start()
            try:
                idle, loaded, clients = _windows(args, station, address, key)
            finally:  # a failed client must not leave the station running
                station.request_stop()
                station.wait()
        m = station.metrics()
        rows = _count_rows(cfg.db_url())
    return _summary(args, idle, loaded, clients, m, rows)


def _windows(args, station, address: str, key: str) -> tuple[list, list, list]:
    """Alternate windows without and with the clients; their rates and the clients' results."""
    time.sleep(min(10.0, args.seconds / 4))  # warm-up: rows and images to read
    idle, loaded, clients = [], [], []
    for _ in range(args.rounds):
        idle.append(_window(station, args.seconds))
        # The clients stand in for other machines on the line network: niced, so the load
        # generator's own CPU takes what the station leaves.
        load = subprocess.Popen(
            ["nice", "-n", "10", sys.executable, __file__, "--client", f"{address}/api/v1",
             "--key", key, "--clients", str(args.clients), "--seconds", str(args.seconds),
             "--think-s", str(args.think_s), *(["--viewer"] if args.viewer else [])],
            stdout=subprocess.PIPE, text=True)
        loaded.append(_window(station, args.seconds, load))
        output = load.stdout.read()
        if load.wait() != 0 or not output:
            raise RuntimeError(f"the client process failed (exit {load.returncode})")
        clients.append(json.loads(output))
    return idle, loaded, clients


def _count_rows(url: str) -> int:
    from inspector.storage.store import InspectionStore

    store = InspectionStore.open(url)
    try:
        return sum(store.counts().values())
    finally:
        store.close()


def _summary(args, idle, loaded, clients, m, rows) -> dict:
    times = {r: [t for c in clients for t in c["times"][r]] for r in ROUTES}
    errors = [e for c in clients for e in c["errors"]]
    idle_rate, loaded_rate = statistics.median(idle), statistics.median(loaded)
    return {
        "bench": "live_view" if args.viewer else "api", "cpu": cpu_model(),
        "clients": args.clients, "think_s": None if args.viewer else args.think_s,
        "window_s": args.seconds,
        "rounds": args.rounds,
        "station_parts_per_s": {"no_load": round(idle_rate, 2), "load": round(loaded_rate, 2),
                                "ratio": round(loaded_rate / idle_rate, 3) if idle_rate else None,
                                "windows_no_load": [round(v, 2) for v in idle],
                                "windows_load": [round(v, 2) for v in loaded]},
        "api_ms": {r: {"n": len(v), "p50": _pct(v, 50), "p99": _pct(v, 99)}
                   for r, v in times.items() if v},
        "requests": sum(len(v) for v in times.values()), "errors": len(errors),
        "error_kinds": sorted(set(errors))[:10],
        "triggered": m.triggered, "rows": rows, "parts_lost": m.triggered - rows,
    }


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.client:
        result = asyncio.run(_clients(args.client, args.key, args.clients, args.seconds,
                                      args.think_s, args.viewer))
    else:
        result = run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
