"""Benchmark: the station's throughput with MQTT results on vs off, and with the broker down.

One station in this process per window (folder source looping over the sample tiles, per-frame
trigger, the shipped model, SQLite in a fresh data folder). Each round runs one window per mode,
in an order that rotates from round to round: no line output (off), an MQTT line publishing
results to the broker (on: QoS 2, the default), an MQTT line to a port where nothing listens
(down). Each window judges `--parts` parts; throughput is parts over the time until the last row
is committed. Throughput ratios of single windows scatter by 10-40 % on shared cores, so the
summary also gives what the results cost in CPU, which load hardly moves: per part, the whole
process's CPU, the MQTT threads' (result worker and paho's network thread), and the broker's
own (mosquitto runs on the same cores here; in a plant it runs elsewhere).

Prints one JSON line: the median over rounds of each round's on/off and down/off ratios (the A/B
comparison), median parts/s per mode, the CPU figures, results delivered (on), the backlog left
in the store while the broker is down, the CPU model, the code measured, and the load average.

    python scripts/bench_outputs.py --broker 127.0.0.1:1883 --parts 600 --rounds 6
    python scripts/bench_outputs.py --modes off,on ...   # the A/B pair only
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import psutil

import inspector
from inspector.config import StationConfig
from inspector.lineio.config import MqttLineConfig
from inspector.machine import cpu_model
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore

MODES = ("off", "on", "down")
POLL_S = 0.05  # the wait for the last row: Station.metrics() often enough, not a busy loop
MQTT_THREADS = ("lineio-", "paho-mqtt-client-")  # the result worker's and paho's thread names


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"))
    p.add_argument("--broker", default="127.0.0.1:1883", help="host:port of the MQTT broker")
    p.add_argument("--parts", type=int, default=1000, help="parts judged per window")
    p.add_argument("--rounds", type=int, default=3, help="windows of each mode")
    p.add_argument("--qos", type=int, choices=(1, 2), default=None,
                   help="QoS of the results (default: the line config's default)")
    p.add_argument("--modes", default=",".join(MODES),
                   help="comma-separated modes (off must be one): off,on,down or off,on")
    return p


def _broker_process(address: str) -> psutil.Process | None:
    """The process listening on the broker's port, when this user may see it."""
    port = int(address.rpartition(":")[2])
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return psutil.Process(conn.pid)
    except (psutil.Error, OSError):
        pass
    return None


def _cpu_s(process: psutil.Process | None) -> float | None:
    if process is None:
        return None
    try:
        times = process.cpu_times()
    except psutil.Error:
        return None
    return times.user + times.system


def _mqtt_threads_cpu_s() -> dict[int, float]:
    """CPU seconds so far of this process's MQTT threads (by their names), by thread id."""
    ids = {t.native_id for t in threading.enumerate() if t.name.startswith(MQTT_THREADS)}
    return {t.id: t.user_time + t.system_time for t in psutil.Process().threads() if t.id in ids}


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the threads alive at the end spent since `before` (a thread that ended in
    between, the line's connect thread, is left out)."""
    return sum(cpu - before.get(tid, 0.0) for tid, cpu in after.items())


def _code() -> dict:
    """Which inspector package ran (a worktree of an older commit, say)."""
    root = Path(inspector.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--",
                                "inspector"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return {"path": str(root), "commit": commit or None, "inspector_changed": bool(dirty.strip())}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(args, data_dir: Path, mode: str) -> StationConfig:
    host, _, port = args.broker.rpartition(":")
    lineio = [] if mode == "off" else [{
        "type": "mqtt", "host": host if mode == "on" else "127.0.0.1", "triggers": False,
        "port": int(port) if mode == "on" else _free_port(), "stop_timeout_s": 30,
        **({} if args.qos is None else {"qos": args.qos})}]
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
        broker = args.broker_process if mode == "on" else None
        cpu0, mqtt0, broker0 = time.process_time(), _mqtt_threads_cpu_s(), _cpu_s(broker)
        t0 = time.monotonic()
        station.start()
        while station.metrics().rows_committed < args.parts:
            time.sleep(POLL_S)
        elapsed = time.monotonic() - t0
        cpu, mqtt, broker1 = (time.process_time() - cpu0, _spent(mqtt0, _mqtt_threads_cpu_s()),
                              _cpu_s(broker))
        state = line.state() if line is not None else None  # before the stop drains it
        station.wait()
        done = line.state() if line is not None else None
        out = {"mode": mode, "parts_per_s": round(args.parts / elapsed, 2),
               "cpu_ms_per_part": round(1000 * cpu / args.parts, 2)}
        if line is not None:
            out["mqtt_threads_ms_per_part"] = round(1000 * mqtt / args.parts, 3)
        if broker0 is not None and broker1 is not None:
            out["broker_ms_per_part"] = round(1000 * (broker1 - broker0) / args.parts, 3)
        if state is not None:
            out.update(backlog_at_last_row=state.backlog, delivered=done.delivered,
                       backlog_after_stop=done.backlog, connected=state.connected)
        return out


def _median(windows: list[dict], mode: str, key: str) -> float | None:
    values = [w[key] for w in windows if w["mode"] == mode and key in w]
    return round(statistics.median(values), 3) if values else None


def main(args: argparse.Namespace) -> dict:
    logging.basicConfig(level=logging.ERROR)
    modes = tuple(m for m in args.modes.split(",") if m)
    if "off" not in modes or set(modes) - set(MODES):
        raise SystemExit(f"--modes {args.modes!r}: choose among {', '.join(MODES)}, off included")
    tiles = Path(tempfile.mkdtemp(prefix="bench-outputs-tiles-"))
    for i, tile in enumerate(sorted(args.images.rglob("*.jpg"))):
        shutil.copy(tile, tiles / f"{i:04d}_{tile.name}")  # one flat folder of every class
    args.tiles = tiles
    args.broker_process = _broker_process(args.broker)
    load_before = os.getloadavg()
    window(args, "off")  # warm-up (model load, caches), not counted
    rounds = []
    for r in range(args.rounds):
        k = r % len(modes)
        order = modes[k:] + modes[:k]  # each mode first in turn
        by_mode = {}
        for mode in order:
            by_mode[mode] = window(args, mode)
            by_mode[mode]["round"] = r
        rounds.append(by_mode)
    windows = [w for by_mode in rounds for w in by_mode.values()]
    others = [m for m in modes if m != "off"]
    ratio = {m: [round(b[m]["parts_per_s"] / b["off"]["parts_per_s"], 3) for b in rounds]
             for m in others}
    summary = {
        "bench": "outputs", "cpu": cpu_model(), "code": _code(),
        "parts_per_window": args.parts, "rounds": args.rounds, "modes": list(modes),
        "qos": args.qos or MqttLineConfig.model_fields["qos"].default,
        "parts_per_s": {m: _median(windows, m, "parts_per_s") for m in modes},
        "cpu_ms_per_part": {m: _median(windows, m, "cpu_ms_per_part") for m in modes},
    }
    for m in others:
        summary[f"{m}_vs_off"] = statistics.median(ratio[m])
        summary[f"{m}_vs_off_rounds"] = ratio[m]
    if "on" in modes:
        on = [w for w in windows if w["mode"] == "on"]
        summary.update(
            mqtt_threads_ms_per_part=_median(windows, "on", "mqtt_threads_ms_per_part"),
            broker_ms_per_part=_median(windows, "on", "broker_ms_per_part"),
            on_delivered_all=all(w["delivered"] == args.parts for w in on),
            on_backlog_at_last_row_max=max(w["backlog_at_last_row"] for w in on))
    if "down" in modes:
        down = [w for w in windows if w["mode"] == "down"]
        summary.update(down_backlog_at_last_row=[w["backlog_at_last_row"] for w in down],
                       down_backlog_after_stop=[w["backlog_after_stop"] for w in down])
    summary.update(loadavg_before=[round(x, 2) for x in load_before],
                   loadavg_after=[round(x, 2) for x in os.getloadavg()], windows=windows)
    print(json.dumps(summary))
    shutil.rmtree(tiles, ignore_errors=True)
    return summary


if __name__ == "__main__":
    main(get_args_parser().parse_args())
