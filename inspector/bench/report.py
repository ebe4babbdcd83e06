"""`inspector bench`: the bundle on this PC, bare and through the full station, against the camera."""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from inspector.bench.frames import make_video, prepare_frames
from inspector.bench.runs import (
    DEFAULT_INFERENCE_THREADS,
    StationRun,
    bare_latencies,
    bench_bare,
    decoded,
    percentile,
    run_flat_out,
    run_paced,
)
from inspector.bench.stages import stage_times
from inspector.config import ModelSection
from inspector.machine import cpu_model, int8_kernel
from inspector.model.loader import load_classifier
from inspector.pipeline.settings import session_threads

DEFAULT_BATCH_MAX = ModelSection.model_fields["batch_max"].default  # what station.yaml runs


@dataclass(frozen=True)
class BenchSettings:
    """What `inspector bench` runs."""

    model: Path
    images: Path
    fps: float = 30.0              # the camera's frame rate: headroom = station parts/s / fps
    frames: int = 300              # frames through the bare classifier and the flat-out station
    paced_seconds: float = 10.0    # the paced run at --fps (0: none); its latency is the line's
    batch_max: int = DEFAULT_BATCH_MAX
    rounds: int = 1                # bare and station alternated this often: medians
    latency_parts: int = 50        # parts timed one at a time (bare latency, per-stage timing)
    ok_sample_rate: float = 0.05
    inference_threads: int = DEFAULT_INFERENCE_THREADS  # parts judged side by side, as the station
    work_dir: Path | None = None


def run_bench(s: BenchSettings) -> dict:
    """Run every measurement and return the figures (one flat dict, JSON-ready)."""
    work = s.work_dir or Path(tempfile.mkdtemp(prefix="inspector-bench-"))
    files = prepare_frames(s.images, s.frames, work / "frames")
    # As the station loads it, and the bare arm calls it as the station's inference threads do.
    classifier = load_classifier(s.model, threads=session_threads(s.inference_threads))
    images = decoded(files)
    latencies = bare_latencies(classifier, images[: s.latency_parts])
    bare, runs = _throughput(classifier, s, images, work)
    flat = runs[-1]
    bare_fps = statistics.median(bare)
    station_fps = statistics.median(r.parts_per_s for r in runs)
    result = {
        "cpu": cpu_model(), "cpus": os.cpu_count(), "load_average": _load(),
        "model": str(s.model), "version": classifier.card.version, "images": str(s.images),
        "int8_kernel": int8_kernel(), "graphs": running_graphs(classifier),
        "frames": s.frames, "rounds": len(runs), "batch_max": s.batch_max, "fps": s.fps,
        "inference_threads": s.inference_threads,
        "bare_parts_per_s": round(bare_fps, 2),
        "bare_latency_ms_p50": _round(percentile(latencies, 50)),
        "bare_latency_ms_p99": _round(percentile(latencies, 99)),
        "station_parts_per_s": round(station_fps, 2),
        "station_over_bare": round(statistics.median(
            r.parts_per_s / b for r, b in zip(runs, bare, strict=True)), 3),
        "headroom": round(station_fps / s.fps, 2),
        "rows": flat.metrics["rows_committed"], "statuses": flat.metrics["statuses"],
        "stage_ms": stage_times(classifier, files[: s.latency_parts], s.ok_sample_rate),
        "cpu_ms_per_part_by_thread": {k: round(1000.0 * v / max(1, s.frames), 2)
                                      for k, v in sorted(flat.cpu_s_by_thread.items())},
    }
    result.update(_paced(classifier, s, work))
    return result


def running_graphs(classifier) -> dict[str, str]:
    """Which graph (float or int8) the classifier and its gate run on this CPU."""
    gate = getattr(classifier, "gate", None)
    out = {"classifier": getattr(classifier, "graph", "float")}  # the torch backend runs float
    return out if gate is None else {**out, "gate": gate.graph}


def _throughput(classifier, s: BenchSettings, images: list, work: Path
                ) -> tuple[list[float], list[StationRun]]:
    """Bare parts/s and flat-out station runs, alternated over the rounds (odd rounds station first)."""
    bare, runs = [], []
    for r in range(max(1, s.rounds)):
        if r % 2:
            runs.append(_flat_out(classifier, s, work, r))
        bare.append(bench_bare(classifier, images, s.batch_max, s.inference_threads))
        if not r % 2:
            runs.append(_flat_out(classifier, s, work, r))
    return bare, runs


def _flat_out(classifier, s: BenchSettings, work: Path, r: int) -> StationRun:
    return run_flat_out(classifier, s.model, work / "frames", work / f"station-{r}", s.batch_max,
                        s.ok_sample_rate, inference_threads=s.inference_threads)


def _paced(classifier, s: BenchSettings, work: Path) -> dict:
    if s.paced_seconds <= 0:
        return {"paced_latency_ms_p50": None, "paced_latency_ms_p99": None}
    frames = max(1, int(s.paced_seconds * s.fps))
    video = make_video(s.images, work / "line.avi", frames, s.fps)
    run = run_paced(classifier, s.model, video, work / "paced", s.fps, s.paced_seconds + 5.0,
                    s.batch_max, s.ok_sample_rate, s.inference_threads)
    m = run.metrics
    return {"paced_parts": m["triggered"], "paced_rows": m["rows_committed"],
            "paced_dropped_frames": m["dropped_frames"],
            "paced_latency_ms_p50": _round(m["e2e_ms_p50"]),
            "paced_latency_ms_p99": _round(m["e2e_ms_p99"])}


def _round(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def format_report(r: dict) -> str:
    """The figures as a user reads them on the console."""
    verdict = "keeps up" if r["headroom"] >= 1.0 else "CANNOT keep up"
    lines = [
        f"CPU            {r['cpu']} ({r['cpus']} logical CPUs, load average {r['load_average']})",
        f"model          {r['model']} ({r['version']})",
        "graphs         " + ", ".join(f"{k} {v}" for k, v in r["graphs"].items())
        + f" (this CPU's INT8 kernel family: {r['int8_kernel']})",
        f"parts/s        {r['station_parts_per_s']} through the full station "
        f"({r['bare_parts_per_s']} bare classifier; station/bare {r['station_over_bare']}; "
        f"batch_max {r['batch_max']}, {r['inference_threads']} part(s) side by side, median of "
        f"{r['rounds']} round(s))",
        f"latency        bare classifier, one part: p50 {r['bare_latency_ms_p50']} ms, "
        f"p99 {r['bare_latency_ms_p99']} ms",
    ]
    if r.get("paced_latency_ms_p50") is not None:
        lines.append(f"               station at {r['fps']:g} fps, capture to verdict: p50 "
                     f"{r['paced_latency_ms_p50']} ms, p99 {r['paced_latency_ms_p99']} ms "
                     f"({r['paced_rows']}/{r['paced_parts']} rows, "
                     f"{r['paced_dropped_frames']} frames dropped)")
    lines.append(f"headroom       {r['headroom']}x over {r['fps']:g} fps: {verdict}")
    lines.append("per part (ms)  " + ", ".join(f"{k} {v}" for k, v in r["stage_ms"].items()))
    lines.append("CPU per part by thread (ms)  " + ", ".join(
        f"{k} {v}" for k, v in r["cpu_ms_per_part_by_thread"].items()))
    return "\n".join(lines)
