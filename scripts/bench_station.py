"""Benchmark: the same N frames through the bare classifier and through the full station.

(a) bare: classifier.predict on in-memory images in batches of --batch-max;
(b) station: folder source -> per_frame trigger -> model -> SQLite + image archive.
Prints one JSON line: both throughputs, their ratio, station p50/p99 end-to-end latency, drops.

    python scripts/bench_station.py --model weights/magnetic-tile --frames 1000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from inspector.capture.folder import IMAGE_SUFFIXES, load_image
from inspector.config import parse_config
from inspector.model.loader import load_classifier
from inspector.pipeline.station import Station


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
    p.add_argument("--work-dir", type=Path, default=None, help="default: a temporary folder")
    return p


GOOD_FOLDERS = {"free", "good", "ok"}


def _order(sources: list[Path], n: int, defect_share: float | None) -> list[Path]:
    """Cycle through all sources, or interleave defects at a fixed share (every k-th frame)."""
    if defect_share is None:
        return [sources[i % len(sources)] for i in range(n)]
    good = [p for p in sources if p.parent.name.lower() in GOOD_FOLDERS]
    bad = [p for p in sources if p.parent.name.lower() not in GOOD_FOLDERS]
    if not good or not bad:
        raise SystemExit("--defect-share needs images under free/good/ok and under defect folders")
    every = max(1, round(1 / defect_share)) if defect_share > 0 else n + 1
    return [bad[(i // every) % len(bad)] if i % every == every - 1 else good[i % len(good)]
            for i in range(n)]


def prepare_frames(images: Path, n: int, folder: Path, defect_share: float | None = None) -> list[Path]:
    """n files in `folder` (symlinks to the source images), in replay order."""
    sources = sorted(p for p in images.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not sources:
        raise SystemExit(f"no images under {images}")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, src in enumerate(_order(sources, n, defect_share)):
        src = src.resolve()
        dst = folder / f"{i:06d}{src.suffix.lower()}"
        if not dst.exists():
            os.symlink(src, dst)
        out.append(dst)
    return out


def bench_bare(classifier, files: list[Path], batch: int) -> float:
    """Frames per second of predict() alone (images decoded beforehand)."""
    images = [load_image(f) for f in files]
    classifier.predict(images[:batch])  # warm-up
    t0 = time.perf_counter()
    for i in range(0, len(images), batch):
        classifier.predict(images[i : i + batch], heatmaps=True)
    return len(images) / (time.perf_counter() - t0)


def bench_station(classifier, folder: Path, data_dir: Path, args) -> tuple[float, dict]:
    cfg = parse_config({
        "station": {"id": "bench", "data_dir": str(data_dir)},
        "source": {"type": "folder", "path": str(folder)},
        "trigger": {"type": "per_frame"},
        "model": {"bundle": str(args.model), "backend": args.backend,
                  "batch_max": args.batch_max},
        "storage": {"images": {"ok_sample_rate": args.ok_sample_rate}},
        "outputs": [],
    })
    station = Station.from_config(cfg, classifier)
    t0 = time.perf_counter()
    station.start()
    station.wait()
    elapsed = time.perf_counter() - t0
    return station.metrics().rows_committed / elapsed, station.metrics().to_dict()


def main(args: argparse.Namespace) -> dict:
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-station-"))
    files = prepare_frames(args.images, args.frames, work / "frames", args.defect_share)
    classifier = load_classifier(args.model, args.backend, max_batch=args.batch_max)
    bare = bench_bare(classifier, files, args.batch_max)
    station_fps, m = bench_station(classifier, work / "frames", work / "data", args)
    result = {
        "frames": args.frames,
        "rows": m["rows_committed"],
        "bare_fps": round(bare, 2),
        "station_fps": round(station_fps, 2),
        "ratio": round(station_fps / bare, 3),
        "p50_ms": m["e2e_ms_p50"],
        "p99_ms": m["e2e_ms_p99"],
        "inference_ms_p50": m["inference_ms_p50"],
        "dropped_frames": m["dropped_frames"],
        "drops": m["drops"],
        "statuses": m["statuses"],
        "defect_share": args.defect_share,
        "batch_max": args.batch_max,
        "backend": args.backend,
        "model": str(args.model),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    main(get_args_parser().parse_args())
