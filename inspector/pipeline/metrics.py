"""Station metrics: thread-safe counters and rolling windows, read as a frozen StationMetrics."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from inspector.domain import Inspection, SerialSource, Status

LATENCY_WINDOW = 2048   # latencies kept for percentiles: recent behaviour, bounded memory
# Cumulative latency histograms for Prometheus (milliseconds, upper bounds; +Inf implied).
HISTOGRAM_BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000)


class Histogram:
    """Cumulative counts per bucket, their sum and count (not thread-safe: the recorder locks)."""

    def __init__(self, bounds: tuple[float, ...] = HISTOGRAM_BUCKETS_MS) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0.0
        self.n = 0

    def observe(self, value: float, times: int = 1) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += times
        self.total += value * times
        self.n += times

    def snapshot(self) -> dict[str, Any]:
        return {"buckets": dict(zip(map(str, self.bounds), self.counts, strict=True)),
                "sum": round(self.total, 3), "count": self.n}
FPS_WINDOW_S = 5.0      # capture fps is averaged over this many seconds
RATE_WINDOW_S = 60.0    # parts/min counts parts finished in the last minute


@dataclass(frozen=True)
class StationMetrics:
    """A snapshot of the station's health and throughput (also stored as the status row)."""

    station_id: str
    running: bool
    uptime_s: float
    camera_state: str
    camera_online: bool
    camera_reconnects: int
    last_frame_age_s: float | None
    frames_captured: int
    triggered: int
    capture_fps: float
    dropped_frames: int
    drops: dict[str, int]
    queue_depths: dict[str, int]
    inference_ms_p50: float | None
    inference_ms_p99: float | None
    e2e_ms_p50: float | None
    e2e_ms_p99: float | None
    parts: int
    parts_per_min: float
    verdicts: dict[str, int]
    statuses: dict[str, int]
    no_read: int
    rows_committed: int
    rows_journaled: int
    journal_pending: int
    db_online: bool
    disk_problem: bool
    output_failures: int
    last_error: str | None = None
    model_version: str | None = None  # the active model's (the central fleet view reads it)
    alarms: list[str] = field(default_factory=list)  # alarms raised and not cleared
    histograms: dict[str, Any] = field(default_factory=dict)  # cumulative latency buckets (ms)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what the store's station_status row holds)."""
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) of values, None when there are none."""
    if not values:
        return None
    return round(float(np.percentile(np.asarray(values, dtype=np.float64), q)), 2)


class MetricsRecorder:
    """Counters and rolling windows updated by the worker threads under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_mono = time.monotonic()
        self._frame_times: deque[float] = deque(maxlen=4096)
        self._part_times: deque[float] = deque(maxlen=100_000)
        self._inference_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._e2e_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._histograms = {"inference_ms": Histogram(), "e2e_ms": Histogram()}
        self.frames = 0
        self.parts = 0
        self.triggers = 0
        self.verdicts: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.no_read = 0
        self.committed = 0
        self.journaled = 0
        self.journal_pending = 0
        self.db_online = True
        self.output_failures = 0
        self.drops: Counter[str] = Counter()
        self.last_error: str | None = None

    def frame(self, t_mono: float) -> None:
        with self._lock:
            self.frames += 1
            self._frame_times.append(t_mono)

    def triggered(self) -> None:
        with self._lock:
            self.triggers += 1

    def inference(self, batch_ms: float, batch_size: int) -> None:
        """One model call: recorded as per-image milliseconds."""
        with self._lock:
            per_image = batch_ms / max(1, batch_size)
            self._inference_ms.extend([per_image] * batch_size)
            self._histograms["inference_ms"].observe(per_image, batch_size)

    def part(self, row: Inspection) -> None:
        """A finished inspection (any status): counts, rate and end-to-end latency."""
        with self._lock:
            self.parts += 1
            self._part_times.append(time.monotonic())
            self.verdicts[row.verdict.value] += 1
            self.statuses[row.status.value] += 1
            if row.serial_source is SerialSource.NO_READ:
                self.no_read += 1
            if row.latency_ms is not None:
                self._e2e_ms.append(row.latency_ms)
                self._histograms["e2e_ms"].observe(row.latency_ms)

    def drop(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.drops[reason] += n

    def error(self, message: str) -> None:
        with self._lock:
            self.last_error = message

    def stored(self, committed: int = 0, journaled: int = 0, pending: int | None = None) -> None:
        with self._lock:
            self.committed += committed
            self.journaled += journaled
            if pending is not None:
                self.journal_pending = pending

    def set_db_online(self, online: bool) -> None:
        with self._lock:
            self.db_online = online

    def output_failed(self) -> None:
        with self._lock:
            self.output_failures += 1

    def rates(self, now: float) -> tuple[float, float]:
        """(capture fps over the last seconds, parts per minute over the last minute)."""
        with self._lock:
            return self._fps(now), self._parts_per_min(now)

    def _fps(self, now: float) -> float:
        recent = [t for t in self._frame_times if now - t <= FPS_WINDOW_S]
        span = min(FPS_WINDOW_S, now - self.started_mono)
        return round(len(recent) / span, 2) if span > 0 else 0.0

    def _parts_per_min(self, now: float) -> float:
        recent = sum(1 for t in reversed(self._part_times) if now - t <= RATE_WINDOW_S)
        span = min(RATE_WINDOW_S, now - self.started_mono)
        return round(recent * 60.0 / span, 2) if span > 0 else 0.0

    def latencies(self) -> dict[str, float | None]:
        with self._lock:
            inference, e2e = list(self._inference_ms), list(self._e2e_ms)
        return {
            "inference_ms_p50": percentile(inference, 50),
            "inference_ms_p99": percentile(inference, 99),
            "e2e_ms_p50": percentile(e2e, 50),
            "e2e_ms_p99": percentile(e2e, 99),
        }

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                "frames_captured": self.frames,
                "triggered": self.triggers,
                "parts": self.parts,
                "verdicts": {v: self.verdicts.get(v, 0) for v in ("OK", "NG", "REVIEW")},
                "statuses": {s.value: self.statuses.get(s.value, 0) for s in Status},
                "no_read": self.no_read,
                "rows_committed": self.committed,
                "rows_journaled": self.journaled,
                "journal_pending": self.journal_pending,
                "db_online": self.db_online,
                "output_failures": self.output_failures,
                "drops": dict(self.drops),
                "last_error": self.last_error,
                "histograms": {k: h.snapshot() for k, h in self._histograms.items()},
            }
