"""Timed runs: the bare classifier, the full station flat out (with CPU per thread), and paced."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from inspector.capture.folder import load_image
from inspector.config import parse_config
from inspector.pipeline.settings import StationSettings
from inspector.pipeline.station import Station

DEFAULT_BATCH_MAX = StationSettings().batch_max  # the station's own default
DEFAULT_INFERENCE_THREADS = StationSettings().inference_threads

# How often a flat-out run reads its threads' CPU. A poll costs ~0.34 ms of CPU (AMD EPYC, ten
# threads), on the station's cores and in its arm only: every 0.05 s that was 0.7 % of a core.
# A thread's CPU after its last read is counted as `ended`. The run's end is not delayed: wait()
# returns as soon as the station has finished.
POLL_S = 0.25


def decoded(files: list[Path]) -> list:
    """The files' images, decoded once for every bare-classifier run of a benchmark."""
    return [load_image(f) for f in files]


def bench_bare(classifier, images: list, batch: int, side_by_side: int = 1) -> float:
    """Frames per second of predict() alone on decoded images, in batches, called from
    `side_by_side` threads at once as the station's inference threads call it."""
    classifier.predict(images[:batch])  # warm-up
    share = [images[k::side_by_side] for k in range(side_by_side)]

    def judge(part: list) -> None:
        for i in range(0, len(part), batch):
            classifier.predict(part[i : i + batch], heatmaps=True)

    threads = [threading.Thread(target=judge, args=(part,)) for part in share[1:]]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    judge(share[0])
    for t in threads:
        t.join()
    return len(images) / (time.perf_counter() - t0)


def bare_latencies(classifier, images: list) -> list[float]:
    """Milliseconds of predict([image]) for each decoded image, one part at a time."""
    classifier.predict(images[:1])
    out = []
    for image in images:
        t0 = time.perf_counter()
        classifier.predict([image], heatmaps=True)
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


class ThreadCpu:
    """CPU seconds of each thread of this process over a run, grouped by the station's thread names.

    Threads that Python did not start (ONNX Runtime's intra-op pool, SQLite) are `native`; the
    CPU of threads after their last read before they ended is `ended` (the process's CPU less
    every thread's read).
    """

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self._process_start = self._process_cpu()
        self._process_end = self._process_start
        self._start = self._snapshot()
        self._last: dict[int, float] = {}
        self._names: dict[int, str] = {}

    def _snapshot(self) -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in self._proc.threads()}

    def _process_cpu(self) -> float:
        times = self._proc.cpu_times()
        return times.user + times.system

    def poll(self) -> None:
        self._process_end = self._process_cpu()
        self._last.update(self._snapshot())
        for t in threading.enumerate():
            if t.native_id is not None:
                self._names[t.native_id] = re.sub(r"-\w+$", "", t.name) if t.name.startswith(
                    ("archive-", "capture-", "inference-")) else t.name
        self._names.setdefault(threading.main_thread().native_id, "main")

    def seconds_by_group(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, cpu in self._last.items():
            used = cpu - self._start.get(tid, 0.0)
            if used > 0:
                group = self._names.get(tid, "native")
                out[group] = out.get(group, 0.0) + used
        ended = self._process_end - self._process_start - sum(out.values())
        if ended > 0.001:  # (per-thread and process clocks tick apart: ignore a millisecond)
            out["ended"] = ended
        return out


@dataclass(frozen=True)
class StationRun:
    """What one station run measured."""

    parts_per_s: float
    metrics: dict
    wall_s: float
    cpu_s_by_thread: dict[str, float] = field(default_factory=dict)


def _config(model: Path, source: dict, data_dir: Path, batch_max: int, ok_sample_rate: float,
            backend: str = "onnx", inference_threads: int = DEFAULT_INFERENCE_THREADS) -> dict:
    return {
        "station": {"id": "bench", "data_dir": str(data_dir)},
        "source": source,
        "trigger": {"type": "per_frame"},
        "model": {"bundle": str(model), "backend": backend, "batch_max": batch_max,
                  "inference_threads": inference_threads},
        "storage": {"images": {"ok_sample_rate": ok_sample_rate}},
        "outputs": [],
    }


def run_flat_out(classifier, model: Path, folder: Path, data_dir: Path,
                 batch_max: int = DEFAULT_BATCH_MAX, ok_sample_rate: float = 0.05,
                 backend: str = "onnx", inference_threads: int = DEFAULT_INFERENCE_THREADS) -> StationRun:
    """Every file of `folder` through the full station as fast as it goes (the source waits)."""
    source = {"type": "folder", "path": str(folder), "resume": False}  # each run's data is new
    cfg = parse_config(_config(model, source, data_dir, batch_max, ok_sample_rate, backend,
                               inference_threads))
    station = Station.from_config(cfg, classifier)
    cpu = ThreadCpu()
    t0 = time.perf_counter()
    station.start()
    cpu.poll()
    while not station.wait(POLL_S):
        cpu.poll()
    wall = time.perf_counter() - t0
    cpu.poll()
    m = station.metrics()
    return StationRun(m.rows_committed / wall, m.to_dict(), wall, cpu.seconds_by_group())


def run_paced(classifier, model: Path, video: Path, data_dir: Path, fps: float, seconds: float,
              batch_max: int = DEFAULT_BATCH_MAX, ok_sample_rate: float = 0.05,
              inference_threads: int = DEFAULT_INFERENCE_THREADS) -> StationRun:
    """A video paced at the camera's rate through the full station for `seconds`."""
    source = {"type": "video", "path": str(video), "paced": True, "fps": fps}
    cfg = parse_config(_config(model, source, data_dir, batch_max, ok_sample_rate,
                               inference_threads=inference_threads))
    station = Station.from_config(cfg, classifier)
    t0 = time.perf_counter()
    station.start()
    station.wait(seconds)
    station.stop()
    wall = time.perf_counter() - t0
    m = station.metrics()
    return StationRun(m.rows_committed / wall, m.to_dict(), wall)


def percentile(values: list[float], q: float) -> float | None:
    return None if not values else float(np.percentile(values, q))
