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

from training.batches import BalancedSampler  # noqa: E402
from training.prefetch import epoch_batches  # noqa: E402
from training.train import get_args_parser, prepare_run, synth_config  # noqa: E402


def _sampler(args) -> BalancedSampler:
    """The sampler `inspector train DATASET` would draw from: its split, recipe and synthetic mix."""
    argv = [str(args.dataset), "--out", "unused", "--set", f"input_size={args.input_size}",
            "--seed", str(args.seed)]
    if args.split_csv:
        argv += ["--split-csv", str(args.split_csv)]
    run = prepare_run(get_args_parser().parse_args(argv))
    return BalancedSampler(run.train, len(run.classes), run.classes.index(run.good[0]), args.input_size,
                           args.seed, recipe=run.recipe, synth=synth_config(run))


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
    result = {"bench": "batches", "dataset": str(args.dataset), "recipe": sampler.recipe,
              "synth_mix": sampler.synth.mix, "train_images": len(sampler.data),
              "input_size": args.input_size, "steps": args.steps, "by_workers": rows}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
