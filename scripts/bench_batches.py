"""Benchmark batch drawing: seconds per crop and full batch, drawn in-process or by N forked workers.

Prints one JSON line. Drawing (synthetic defects, augmentation) runs on the CPU; on a GPU machine
it bounds a training unless workers draw ahead (`inspector train --loader-workers N`). Example:
    .venv/bin/python scripts/bench_batches.py --dataset /tmp/mt-labels --workers 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector.datasets import pick_good_classes, scan_dataset  # noqa: E402
from training.batches import LABELS_ONLY, BalancedSampler, SynthConfig  # noqa: E402
from training.data import load_split  # noqa: E402
from training.prefetch import epoch_batches  # noqa: E402


def _sampler(args) -> BalancedSampler:
    index = scan_dataset(args.dataset, args.split_csv)
    good = pick_good_classes(index.classes, None)
    train = load_split(index.split("train"), index.classes, args.input_size, False, set(good))
    if len(train) == 0:
        raise SystemExit(f"{args.dataset}: no readable train images")
    return BalancedSampler(train, len(index.classes), index.classes.index(good[0]), args.input_size,
                           args.seed, recipe=LABELS_ONLY, synth=SynthConfig(0.5, 0.3, "edges"))


def _seconds_per_batch(sampler: BalancedSampler, draw, steps: int, workers: int) -> float:
    start = time.perf_counter()
    n = sum(1 for _ in epoch_batches(sampler, draw, steps, workers, (0,)))
    return (time.perf_counter() - start) / n


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dataset", type=Path, default=ROOT / "datasets" / "magnetic-tile-sample")
    p.add_argument("--split-csv", type=Path, default=None)
    p.add_argument("--input-size", type=int, default=320)
    p.add_argument("--steps", type=int, default=40, help="batches drawn per measurement")
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sampler = _sampler(args)
    rows = {}
    for workers in args.workers:
        rows[str(workers)] = {
            "crop_batch_s": _seconds_per_batch(sampler, lambda s: s.crop_items(32, 128), args.steps, workers),
            "full_batch_s": _seconds_per_batch(sampler, lambda s: s.full_items(16), args.steps, workers),
        }
    result = {"bench": "batches", "dataset": str(args.dataset), "train_images": len(sampler.data),
              "input_size": args.input_size, "steps": args.steps, "by_workers": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
