"""Benchmark the classifier: torch eager vs ONNX Runtime latency/throughput, and classify peak memory.

Prints one JSON line. Example:
    .venv/bin/python scripts/bench_model.py --model weights/magnetic-tile --threads 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector.model.loader import load_classifier  # noqa: E402
from inspector.model.preprocess import prepare_batch, read_image  # noqa: E402


def _images(folder: Path, n: int) -> list[Path]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".jpg", ".png", ".bmp"}
                   and "masks" not in p.parts)
    if not paths:
        raise SystemExit(f"no images under {folder}")
    return [paths[i % len(paths)] for i in range(n)]


def _time(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first call allocates
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000.0)
    return out


def _bench_backend(name: str, args, images: list[np.ndarray]) -> dict:
    clf = load_classifier(args.model, name, threads=args.threads, max_batch=16)
    one = images[:1]
    batch16 = images[:16]
    x1, _ = prepare_batch(one, clf.card.input_size)
    predict1 = _time(lambda: clf.predict(one, heatmaps=False), args.repeats)
    predict16 = _time(lambda: clf.predict(batch16, heatmaps=False), max(3, args.repeats // 8))
    forward1 = _time(lambda: clf._forward(x1), args.repeats)
    return {
        "predict_b1_ms": float(np.median(predict1)),
        "predict_b1_per_s": 1000.0 / float(np.median(predict1)),
        "predict_b16_ms": float(np.median(predict16)),
        "predict_b16_per_s": 16 * 1000.0 / float(np.median(predict16)),
        "forward_single_view_b1_ms": float(np.median(forward1)),
        "views": len(clf.card.tta_views),
    }


# A small launcher measures the child: forked from this (torch-sized) process, the child's peak
# would include this process's pages until exec.
_LAUNCHER = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _classify_peak_memory(model: Path, paths: list[Path]) -> float:
    """Peak resident memory (MiB) of `inspector classify` on the given images."""
    cmd = [sys.executable, "-c", _LAUNCHER, str(ROOT / ".venv" / "bin" / "inspector"), "classify",
           str(model), *map(str, paths), "--json"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0  # KiB -> MiB


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=ROOT / "weights" / "magnetic-tile")
    p.add_argument("--images", type=Path, default=ROOT / "datasets" / "magnetic-tile-sample")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=40)
    args = p.parse_args()
    paths = _images(args.images, 100)
    images = [read_image(path) for path in paths[:16]]
    onnx = _bench_backend("onnx", args, images)
    torch_ = _bench_backend("torch", args, images)
    print(json.dumps({
        "bench": "model", "model": str(args.model), "threads": args.threads,
        "onnx": onnx, "torch": torch_,
        "onnx_over_torch_throughput_b1": onnx["predict_b1_per_s"] / torch_["predict_b1_per_s"],
        "onnx_over_torch_throughput_b16": onnx["predict_b16_per_s"] / torch_["predict_b16_per_s"],
        "onnx_over_torch_forward_b1": torch_["forward_single_view_b1_ms"] / onnx["forward_single_view_b1_ms"],
        "classify_100_images_peak_rss_mib": _classify_peak_memory(args.model, paths),
    }))


if __name__ == "__main__":
    main()
