"""Benchmark: the same N frames through the bare classifier and through the full station.

(a) bare: classifier.predict on in-memory images in batches of --batch-max, called from
    --inference-threads threads at once as the station's inference threads call it (with
    --one-by-one also one part at a time on a 2-thread session, the classifier used alone);
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
from inspector.bench.runs import DEFAULT_INFERENCE_THREADS, bench_bare, decoded, run_flat_out
from inspector.machine import cpu_model
from inspector.model.loader import load_classifier
from inspector.pipeline.settings import session_threads


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
    p.add_argument("--inference-threads", type=int, default=DEFAULT_INFERENCE_THREADS,
                   help="parts judged side by side in the station and the bare arm")
    p.add_argument("--one-by-one", action="store_true",
                   help="also time the bare classifier one part at a time on 2 ONNX Runtime threads")
    p.add_argument("--work-dir", type=Path, default=None, help="default: a temporary folder")
    return p


def _station(args: argparse.Namespace, classifier, work: Path, r: int):
    return run_flat_out(classifier, args.model, work / "frames", work / f"data-{r}",
                        args.batch_max, args.ok_sample_rate, args.backend, args.inference_threads)


def _bare(args: argparse.Namespace, classifier, one_by_one, images: list) -> dict[str, float]:
    """The bare classifier as the station calls it and, given, one part at a time on 2 threads."""
    out = {"side_by_side": bench_bare(classifier, images, args.batch_max, args.inference_threads)}
    if one_by_one is not None:
        out["one_by_one"] = bench_bare(one_by_one, images, args.batch_max)
    return out


def main(args: argparse.Namespace) -> dict:
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-station-"))
    files = prepare_frames(args.images, args.frames, work / "frames", args.defect_share)
    # As the station loads it: with parts side by side, each on one ONNX Runtime thread.
    classifier = load_classifier(args.model, args.backend, threads=session_threads(args.inference_threads))
    one_by_one = load_classifier(args.model, args.backend) if args.one_by_one else None
    images = decoded(files)  # once, for every round's bare arms
    bares, runs = [], []
    for r in range(max(1, args.rounds)):  # odd rounds run the station first
        if r % 2:
            runs.append(_station(args, classifier, work, r))
        bares.append(_bare(args, classifier, one_by_one, images))
        if not r % 2:
            runs.append(_station(args, classifier, work, r))
    station = [run.parts_per_s for run in runs]
    bare = [b["side_by_side"] for b in bares]
    m = runs[-1].metrics
    result = {
        "frames": args.frames,
        "rows": m["rows_committed"],
        "inference_threads": args.inference_threads,
        "bare_fps": round(statistics.median(bare), 2),
        "station_fps": round(statistics.median(station), 2),
        "ratio": round(statistics.median(s / b for s, b in zip(station, bare, strict=True)), 3),
        "rounds": len(runs),
        "p50_ms": m["e2e_ms_p50"],
        "p99_ms": m["e2e_ms_p99"],
        "inference_ms_p50": m["inference_ms_p50"],
        "dropped_frames": m["dropped_frames"],
        **_one_by_one(station, bares),
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


def _one_by_one(station: list[float], bares: list[dict[str, float]]) -> dict:
    """The bare classifier one part at a time, and the station against it, where timed."""
    if "one_by_one" not in bares[0]:
        return {}
    one = [b["one_by_one"] for b in bares]
    return {"bare_one_by_one_fps": round(statistics.median(one), 2),
            "ratio_one_by_one": round(statistics.median(
                s / b for s, b in zip(station, one, strict=True)), 3)}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(get_args_parser().parse_args())
