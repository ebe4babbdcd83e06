"""Benchmark: a video paced at camera rate (default 30 fps for 60 s) through the full station.

Prints one JSON line: parts triggered, rows stored, parts missing a row, frame drops with
their reasons, latency, CPU use, and the CPU headroom = max sustainable fps / pace fps, where
the max is measured by running the video unpaced (every frame, as fast as possible).
With --pace-factor the pace is that multiple of the measured max (an overload), and with
--deadline-s the station has a verdict deadline: the line then also reports the slowest model
verdict and the late parts.

    python scripts/bench_live_pace.py --model weights/magnetic-tile --seconds 60
    python scripts/bench_live_pace.py --pace-factor 3 --deadline-s 2 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import psutil

from inspector.bench.frames import make_video
from inspector.config import parse_config
from inspector.model.loader import load_classifier
from inspector.pipeline.settings import StationSettings, session_threads
from inspector.pipeline.station import Station
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    p.add_argument("--video", type=Path, default=None,
                   help="video to replay; default: one made from --images (a part per frame)")
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"))
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=30.0, help="pace (camera frame rate)")
    p.add_argument("--trigger", default="per_frame", choices=["per_frame", "presence"])
    p.add_argument("--batch-max", type=int, default=8)
    p.add_argument("--probe-frames", type=int, default=300,
                   help="frames of the unpaced run that measures the max sustainable fps")
    p.add_argument("--pace-factor", type=float, default=None,
                   help="pace at this multiple of the measured max sustainable fps (overrides --fps)")
    p.add_argument("--deadline-s", type=float, default=None, help="verdicts.deadline_s")
    p.add_argument("--work-dir", type=Path, default=None)
    return p


def station_config(args, video: Path, data_dir: Path, paced: bool) -> dict:
    return {
        "station": {"id": "pace", "data_dir": str(data_dir)},
        "source": {"type": "video", "path": str(video), "paced": paced, "fps": args.fps},
        "trigger": {"type": args.trigger},
        "model": {"bundle": str(args.model), "backend": args.backend,
                  "batch_max": args.batch_max},
        "verdicts": {"deadline_s": args.deadline_s},
        "outputs": [],
    }


def stored_rows(data_dir: Path) -> tuple[int, float | None]:
    """(rows stored, the slowest model verdict's capture-to-verdict milliseconds)."""
    store = InspectionStore.open(sqlite_url(data_dir))
    try:
        rows, slowest, cursor = 0, None, None
        while True:
            page, cursor = store.list(station_id="pace", limit=1000, cursor=cursor)
            rows += len(page)
            judged = [r.latency_ms for r in page if r.status.value == "ok" and r.latency_ms]
            if judged:
                slowest = max(slowest or 0.0, max(judged))
            if cursor is None:
                return rows, slowest
    finally:
        store.close()


def max_sustainable_fps(args, classifier, video: Path, work: Path) -> float:
    """Every frame of the video, unpaced (the source waits for the station)."""
    cfg = parse_config(station_config(args, video, work / "probe", paced=False))
    station = Station.from_config(cfg, classifier, max_parts=args.probe_frames)
    t0 = time.perf_counter()
    station.start()
    station.wait()
    return station.metrics().rows_committed / (time.perf_counter() - t0)


def paced_run(args, classifier, video: Path, data_dir: Path) -> dict:
    cfg = parse_config(station_config(args, video, data_dir, paced=True))
    station = Station.from_config(cfg, classifier)
    proc = psutil.Process()
    cpu0, t0 = proc.cpu_times(), time.perf_counter()
    station.start()
    station.wait(args.seconds)
    station.stop()
    wall = time.perf_counter() - t0
    cpu1 = proc.cpu_times()
    used = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    m = station.metrics()
    health = station.parts.source.health()
    return {"metrics": m, "wall_s": wall, "cpu_percent": 100.0 * used / wall,
            "source_superseded": getattr(health, "superseded", 0)}


def main(args: argparse.Namespace) -> dict:
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-pace-"))
    work.mkdir(parents=True, exist_ok=True)
    # As the station loads it: one ONNX Runtime thread per inference thread when several.
    classifier = load_classifier(args.model, args.backend,
                                 threads=session_threads(StationSettings().inference_threads))
    probe = args.video or make_video(args.images, work / "probe.avi", args.probe_frames, args.fps)
    max_fps = max_sustainable_fps(args, classifier, probe, work)
    if args.pace_factor is not None:
        args.fps = round(args.pace_factor * max_fps, 2)
    frames = int(args.seconds * args.fps)
    video = args.video or make_video(args.images, work / "line.avi", frames, args.fps)
    run = paced_run(args, classifier, video, work / "paced")
    m = run["metrics"]
    rows, slowest_ms = stored_rows(work / "paced")
    drops = dict(m.drops)
    if run["source_superseded"]:
        drops["source_lag"] = run["source_superseded"]  # frames the reader skipped, late
    result = {
        "seconds": round(run["wall_s"], 2),
        "pace_fps": args.fps,
        "frames_captured": m.frames_captured,
        "parts": m.triggered,
        "rows": rows,
        "missing_rows": m.triggered - rows,
        "dropped_frames": m.dropped_frames + run["source_superseded"],
        "drops": drops,
        "statuses": m.statuses,
        "p50_ms": m.e2e_ms_p50,
        "p99_ms": m.e2e_ms_p99,
        "cpu_percent": round(run["cpu_percent"], 1),
        "max_fps": round(max_fps, 2),
        "headroom": round(max_fps / args.fps, 3),
        "trigger": args.trigger,
        "model": str(args.model),
        "deadline_s": args.deadline_s,
        "late": m.statuses.get("late", 0),
        "slowest_verdict_ms": None if slowest_ms is None else round(slowest_ms, 1),
        "inference_ms_p99": m.inference_ms_p99,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(get_args_parser().parse_args())
