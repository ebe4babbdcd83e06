"""Benchmark: the same N frames through the bare classifier and through the full station.

(a) bare: classifier.predict on in-memory images in batches of --batch-max;
(b) station: folder source -> per_frame trigger -> model -> SQLite + image archive.
With --rounds R the two alternate R times (fresh station data each round) and the figures are the
medians, the ratio the median of the rounds' ratios. Prints one JSON line: both throughputs, their
ratio, station p50/p99 end-to-end latency, drops, the CPU per part of each station thread.
The logic lives in inspector.bench (shared with `inspector bench`).

    python scripts/bench_station.py --model weights/magnetic-tile --frames 1000 --rounds 5
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

from inspector.bench.frames import prepare_frames
from inspector.bench.runs import bench_bare, run_flat_out
from inspector.machine import cpu_model
from inspector.model.loader import load_classifier


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=Path("weights/magnetic-tile"))
    p.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--images", type=Path, default=Path("datasets/magnetic-tile-sample/images"),
                   help="folder searched recursively for images (cycled to --frames)")
    p.add_argument("--defect-share", type=float, default=None,
                   help="share of frames drawn from defect classes (a line's mix; default: cycle all "
                        "images as found). Good images are those under a folder named free/good/ok")
    p.add_argument("--batch-max", type=int, default=8)
    p.add_argument("--ok-sample-rate", type=float, default=0.05)
    p.add_argument("--rounds", type=int, default=1, help="bare and station alternated this often")
    p.add_argument("--work-dir", type=Path, default=None, help="default: a temporary folder")
    return p


def _station(args: argparse.Namespace, classifier, work: Path, r: int):
    return run_flat_out(classifier, args.model, work / "frames", work / f"data-{r}",
                        args.batch_max, args.ok_sample_rate, args.backend)


def main(args: argparse.Namespace) -> dict:
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-station-"))
    files = prepare_frames(args.images, args.frames, work / "frames", args.defect_share)
    classifier = load_classifier(args.model, args.backend)  # as the station loads it
    bare, runs = [], []
    for r in range(max(1, args.rounds)):  # odd rounds run the station first
        if r % 2:
            runs.append(_station(args, classifier, work, r))
        bare.append(bench_bare(classifier, files, args.batch_max))
        if not r % 2:
            runs.append(_station(args, classifier, work, r))
    station = [run.parts_per_s for run in runs]
    m = runs[-1].metrics
    result = {
        "frames": args.frames,
        "rows": m["rows_committed"],
        "bare_fps": round(statistics.median(bare), 2),
        "station_fps": round(statistics.median(station), 2),
        "ratio": round(statistics.median(s / b for s, b in zip(station, bare, strict=True)), 3),
        "rounds": len(runs),
        "p50_ms": m["e2e_ms_p50"],
        "p99_ms": m["e2e_ms_p99"],
        "inference_ms_p50": m["inference_ms_p50"],
        "dropped_frames": m["dropped_frames"],
        "drops": m["drops"],
        "statuses": m["statuses"],
        "cpu_ms_per_part_by_thread": {k: round(1000.0 * v / args.frames, 2)
                                      for k, v in sorted(runs[-1].cpu_s_by_thread.items())},
        "defect_share": args.defect_share,
        "batch_max": args.batch_max,
        "backend": args.backend,
        "model": str(args.model),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(get_args_parser().parse_args())
