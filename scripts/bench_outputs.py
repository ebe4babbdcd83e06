"""Benchmark: the station's throughput with MQTT results on vs off, and with the broker down.

One station in this process per window (folder source looping over the sample tiles, per-frame
trigger, the shipped model, SQLite in a fresh data folder). Each round runs three windows, in an
order that rotates from round to round: no line output (off), an MQTT line publishing results to
the broker (on: QoS 2, the default), an MQTT line to a port where nothing listens (down). Each
window judges `--parts` parts; throughput is parts over the time until the last row is committed.
Prints one JSON line: the median over rounds of each round's on/off and down/off ratios (the A/B
comparison), median parts/s per mode, results delivered (on), the backlog left in the store
while the broker is down, the CPU and the load average before and after.

    python scripts/bench_outputs.py --broker 127.0.0.1:1883 --parts 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from inspector.config import StationConfig
from inspector.machine import cpu_model
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore

MODES = ("off", "on", "down")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"))
    p.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the MQTT broker")
    p.add_argument("--parts", type=int, default=1000, help="parts judged per window")
    p.add_argument("--rounds", type=int, default=3, help="(off, on, down) window triples")
    return p


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(args, data_dir: Path, mode: str) -> StationConfig:
    host, _, port = args.broker.rpartition(":")
    lineio = [] if mode == "off" else [{
        "type": "mqtt", "host": host if mode == "on" else "127.0.0.1", "triggers": False,
        "port": int(port) if mode == "on" else _free_port(), "stop_timeout_s": 30}]
    return StationConfig.model_validate({
        "station": {"id": f"bench-{mode}", "data_dir": str(data_dir)},
        "source": {"type": "folder", "path": str(args.tiles), "loop": True},
        "model": {"bundle": str(args.model)},
        "outputs": [], "lineio": lineio, "api": {"enabled": False},
    })


def window(args, mode: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-outputs-") as tmp:
        cfg = _config(args, Path(tmp), mode)
        station = Station.from_config(cfg, max_parts=args.parts,
                                      store=InspectionStore.open(cfg.db_url()))
        line = station.parts.outputs[-1] if mode != "off" else None
        if line is not None:
            line.start(None)
            line.wait_ready(10)
        t0 = time.monotonic()
        station.start()
        while station.metrics().rows_committed < args.parts:
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        state = line.state() if line is not None else None  # before the stop drains it
        station.wait()
        done = line.state() if line is not None else None
        out = {"mode": mode, "parts_per_s": round(args.parts / elapsed, 1)}
        if state is not None:
            out.update(backlog_at_last_row=state.backlog, delivered=done.delivered,
                       backlog_after_stop=done.backlog, connected=state.connected)
        return out


def main(args: argparse.Namespace) -> dict:
    logging.basicConfig(level=logging.ERROR)
    tiles = Path(tempfile.mkdtemp(prefix="bench-outputs-tiles-"))
    for i, tile in enumerate(sorted(args.images.rglob("*.jpg"))):
        shutil.copy(tile, tiles / f"{i:04d}_{tile.name}")  # one flat folder of every class
    args.tiles = tiles
    load_before = os.getloadavg()
    window(args, "off")  # warm-up (model load, caches), not counted
    rounds = []
    for r in range(args.rounds):
        order = MODES[r % 3:] + MODES[:r % 3]  # off first, then on first, then down first
        by_mode = {}
        for mode in order:
            by_mode[mode] = window(args, mode)
            by_mode[mode]["round"] = r
        rounds.append(by_mode)
    windows = [w for by_mode in rounds for w in by_mode.values()]
    rate = {m: statistics.median(w["parts_per_s"] for w in windows if w["mode"] == m)
            for m in MODES}
    ratio = {m: [round(b[m]["parts_per_s"] / b["off"]["parts_per_s"], 3) for b in rounds]
             for m in ("on", "down")}
    on = [w for w in windows if w["mode"] == "on"]
    down = [w for w in windows if w["mode"] == "down"]
    summary = {
        "bench": "outputs", "cpu": cpu_model(), "parts_per_window": args.parts,
        "rounds": args.rounds, "parts_per_s": rate,
        "on_vs_off": statistics.median(ratio["on"]), "on_vs_off_rounds": ratio["on"],
        "down_vs_off": statistics.median(ratio["down"]), "down_vs_off_rounds": ratio["down"],
        "on_delivered_all": all(w["delivered"] == args.parts for w in on),
        "on_backlog_at_last_row_max": max(w["backlog_at_last_row"] for w in on),
        "down_backlog_at_last_row": [w["backlog_at_last_row"] for w in down],
        "down_backlog_after_stop": [w["backlog_after_stop"] for w in down],
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "windows": windows,
    }
    print(json.dumps(summary))
    shutil.rmtree(tiles, ignore_errors=True)
    return summary


if __name__ == "__main__":
    main(get_args_parser().parse_args())
