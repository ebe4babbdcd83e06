"""Benchmark: the full station with each number of inference threads, alternated in one process.

For each count in --counts (default 1,2) the model is loaded as a station with that many
inference threads loads it (one ONNX Runtime thread each when several, two for one), and each
round runs the same frames through the full station with every count in turn (order reversed
every other round), and through the bare classifier called from that many threads. Prints one
JSON line: medians per count, and each count's station parts/s over the first count's (the
median of the rounds' ratios).

    .venv/bin/python scripts/bench_inference_threads.py --frames 300 --rounds 6 --defect-share 0.05
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector.bench.frames import prepare_frames  # noqa: E402
from inspector.bench.runs import bench_bare, decoded, run_flat_out  # noqa: E402
from inspector.machine import cpu_model  # noqa: E402
from inspector.model.loader import load_classifier  # noqa: E402
from inspector.pipeline.settings import session_threads  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"))
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--defect-share", type=float, default=None,
                   help="share of defect frames (a line's mix); default: the images as found")
    p.add_argument("--batch-max", type=int, default=1)
    p.add_argument("--counts", default="1,2", help="inference thread counts compared")
    p.add_argument("--rounds", type=int, default=4)
    return p


def main(args: argparse.Namespace) -> dict:
    counts = [int(c) for c in args.counts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-inference-threads-"))
    files = prepare_frames(args.images, args.frames, work / "frames", args.defect_share)
    images = decoded(files)  # once, for every round's bare arms
    models = {n: load_classifier(args.model, threads=session_threads(n)) for n in counts}
    station: dict[int, list[float]] = {n: [] for n in counts}
    bare: dict[int, list[float]] = {n: [] for n in counts}
    for r in range(max(1, args.rounds)):
        for n in counts if r % 2 == 0 else counts[::-1]:
            run = run_flat_out(models[n], args.model, work / "frames", work / f"data-{r}-{n}",
                               args.batch_max, inference_threads=n)
            if run.metrics["rows_committed"] != len(files):
                raise RuntimeError(f"{n} inference threads stored {run.metrics['rows_committed']} "
                                   f"rows for {len(files)} parts")
            station[n].append(run.parts_per_s)
            bare[n].append(bench_bare(models[n], images, args.batch_max, n))
    first = counts[0]
    result = {
        "bench": "inference_threads", "frames": len(files), "rounds": max(1, args.rounds),
        "batch_max": args.batch_max, "defect_share": args.defect_share,
        "station_parts_per_s": {n: round(statistics.median(v), 1) for n, v in station.items()},
        "bare_parts_per_s": {n: round(statistics.median(v), 1) for n, v in bare.items()},
        "station_over_first": {n: round(statistics.median(
            a / b for a, b in zip(station[n], station[first], strict=True)), 3) for n in counts},
        "model": str(args.model), "cpu": cpu_model(), "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    main(get_args_parser().parse_args())
