"""Benchmark the classifier: torch eager vs ONNX Runtime latency/throughput, and classify peak memory.

The backends alternate over --rounds (order reversed every other round); each figure is the median
of the rounds' medians, each ratio the median of the rounds' ratios. --compare-sessions compares
ONNX Runtime's tuned sessions with the ones before issue 32 (worker threads spinning, runs of up to
16 network inputs) instead of torch; --session-options times each session option against the chosen
settings (docs/experiments/benchmarks-history.md, issue 32) and prints a table; --compare-graphs
times the bundle's INT8 graphs (model.int8.onnx and the gate's anomaly.int8.onnx, `inspector
quantize`) against its float ones. The torch arm runs an attached gate on ONNX Runtime, as the
loader does, unless --torch-gate names the gate's own bundle: its model.pt then runs the gate in
torch eager too (after checking that its model.onnx and banks are the ones the bundle carries).
Prints one JSON line. Example:
    .venv/bin/python scripts/bench_model.py --model weights/magnetic-tile --threads 2 --rounds 6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inspector import machine  # noqa: E402
from inspector.machine import cpu_model  # noqa: E402
from inspector.model.card import ModelCard  # noqa: E402
from inspector.model.loader import load_classifier  # noqa: E402
from inspector.model.onnx_backend import SessionSettings  # noqa: E402
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


def _torch_gate(model: Path, gate_bundle: Path, threads: int):
    """The bundle's attached gate in torch eager, from the gate's own bundle: refused unless that
    bundle's model.onnx and banks are byte for byte the ones the classifier bundle carries."""
    from inspector.model.torch_backend import TorchClassifier

    gate = ModelCard.load(model).gate_card
    if gate is None:
        raise SystemExit(f"--torch-gate: {model} has no gate attached")
    pairs = [("model.onnx", "anomaly.onnx"), ("bank.npy", "anomaly_bank.npy"),
             ("image_bank.npz", "anomaly_image_bank.npz")]
    for own, attached in pairs:
        ours, theirs = gate_bundle / own, model / attached
        both = ours.is_file() and theirs.is_file()
        if ours.is_file() != theirs.is_file() or (both and ours.read_bytes() != theirs.read_bytes()):
            raise SystemExit(f"--torch-gate {gate_bundle}: {own} is not {theirs}")
    return TorchClassifier(gate_bundle, gate, threads=threads, max_batch=16)


def _load(name: str, args):
    if name in ("int8", "float"):  # the bundle's graphs named outright, whatever the card says
        gate = ModelCard.load(args.model).gate_card  # its INT8 graph only where one was made
        gate_graph = name if gate is not None and (name == "float" or gate.int8) else None
        return load_classifier(args.model, "onnx", threads=args.threads, max_batch=16, graph=name,
                               gate_graph=gate_graph)
    if name == "onnx_before":  # the sessions before issue 32: spinning, runs of up to max_batch
        return load_classifier(args.model, "onnx", max_batch=16, session=SessionSettings(
            threads=args.threads, spinning=True, run_inputs=None))
    clf = load_classifier(args.model, name, threads=args.threads, max_batch=16)
    if name == "torch" and args.torch_gate is not None:
        clf.gate = _torch_gate(args.model, args.torch_gate, args.threads)
    return clf


def _bench_round(clf, args, images: list[np.ndarray]) -> dict:
    one = images[:1]
    batch16 = images[:16]
    x1, _ = prepare_batch(one, clf.card.input_size)
    predict1 = _time(lambda: clf.predict(one, heatmaps=False), args.repeats)
    predict16 = _time(lambda: clf.predict(batch16, heatmaps=False), max(3, args.repeats // 8))
    forward1 = _time(lambda: clf._forward(x1), args.repeats)
    return {"predict_b1_ms": float(np.median(predict1)), "predict_b16_ms": float(np.median(predict16)),
            "forward_single_view_b1_ms": float(np.median(forward1))}


OPTIONS = {
    "chosen": {}, "worker threads spinning": {"spinning": True}, "1 intra-op thread": {"threads": 1},
    "graph level extended": {"graph_level": "extended"}, "graph level basic": {"graph_level": "basic"},
    "2 inter-op threads": {"inter_threads": 2}, "runs of up to max_batch (8)": {"run_inputs": None},
    "QDQ propagation on": {"disabled_optimizers": ()},
    "before issue 32": {"spinning": True, "run_inputs": None},
}


def _session_options(args, images: list[np.ndarray], per_predict: int) -> None:
    """Each option against the chosen settings: ms a part, alternated rounds, per-round ratios."""
    clfs = {k: load_classifier(args.model, max_batch=8, session=SessionSettings(**v))
            for k, v in OPTIONS.items()}
    for clf in clfs.values():
        clf.predict(images[:per_predict])
    ms: dict[str, list[float]] = {k: [] for k in clfs}
    for r in range(max(1, args.rounds)):
        for k in (list(clfs) if r % 2 == 0 else list(clfs)[::-1]):
            t = time.perf_counter()
            for i in range(0, len(images), per_predict):
                clfs[k].predict(images[i:i + per_predict], heatmaps=True)
            ms[k].append(1000.0 * (time.perf_counter() - t) / len(images))
    print(f"| option ({per_predict} image(s) per predict) | ms / part | chosen is x faster |")
    for k, v in ms.items():
        ratio = statistics.median(a / b for a, b in zip(v, ms["chosen"], strict=True))
        print(f"| {k} | {statistics.median(v):.1f} | {ratio:.2f} |")


def _summary(rounds: list[dict], views: int) -> dict:
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    return {**med, "predict_b1_per_s": 1000.0 / med["predict_b1_ms"],
            "predict_b16_per_s": 16 * 1000.0 / med["predict_b16_ms"], "views": views}


def _ratio(rounds: dict, a: str, b: str, key: str) -> float:
    """Median over rounds of b's time over a's (how many times faster a is)."""
    return statistics.median(y[key] / x[key] for x, y in zip(rounds[a], rounds[b], strict=True))


# A small launcher measures the child: forked from this (torch-sized) process, the child's peak
# would include this process's pages until exec.
_LAUNCHER = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def _classify_peak_memory(model: Path, paths: list[Path], graph: str | None = None) -> float:
    """Peak resident memory (MiB) of `inspector classify` on the given images; `graph` runs a copy
    of the bundle whose card names that graph."""
    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        if graph is not None:
            model = _bundle_running(model, graph, Path(tmp))
        cmd = [sys.executable, "-c", _LAUNCHER, str(ROOT / ".venv" / "bin" / "inspector"), "classify",
               str(model), *map(str, paths), "--json"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0  # KiB -> MiB


def _bundle_running(model: Path, graph: str, tmp: Path) -> Path:
    """A copy of the bundle whose card runs `graph` on this CPU (for its gate too, where it has
    that graph): an INT8 record is marked kept on this CPU's INT8 kernel family."""
    copy = tmp / model.name
    shutil.copytree(model, copy)
    card = json.loads((copy / "card.json").read_text())
    card = {**_running(card, graph), "gate": card.get("gate")}
    if card["gate"] and (graph == "float" or card["gate"].get("int8")):
        card["gate"] = _running(card["gate"], graph)
    (copy / "card.json").write_text(json.dumps(card))
    return copy


def _running(card: dict, graph: str) -> dict:
    """A card (or its gate's) naming `graph`, with an INT8 record judged kept on this CPU's family."""
    out = {**card, "graph": graph}
    if graph == "int8" and card.get("int8"):
        here = {"kept_test_figures": True, "note": "marked by bench_model.py to time this graph"}
        out["int8"] = {**card["int8"], "judged": {machine.int8_kernel(): here}}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", type=Path, default=ROOT / "weights" / "magnetic-tile")
    p.add_argument("--images", type=Path, default=ROOT / "datasets" / "magnetic-tile-sample")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--compare-sessions", action="store_true",
                   help="ONNX Runtime tuned vs the sessions before issue 32, instead of vs torch")
    p.add_argument("--compare-graphs", action="store_true",
                   help="the INT8 classifier graph vs the float one (both ONNX Runtime), instead of vs torch")
    p.add_argument("--torch-gate", type=Path, default=None, metavar="GATE_BUNDLE",
                   help="run the attached gate in torch eager too, from its own bundle's model.pt")
    p.add_argument("--session-options", type=int, default=None, metavar="IMAGES_PER_PREDICT",
                   help="time each session option against the chosen settings; print a table")
    args = p.parse_args()
    paths = _images(args.images, 100)
    if args.session_options:
        print(f"{cpu_model()}, load average {[round(x, 2) for x in os.getloadavg()]}")
        return _session_options(args, [read_image(path) for path in paths[:48]], args.session_options)
    images = [read_image(path) for path in paths[:16]]
    first, other = (("int8", "float") if args.compare_graphs else
                    ("onnx", "onnx_before" if args.compare_sessions else "torch"))
    models = {first: _load(first, args), other: _load(other, args)}
    for clf in models.values():
        clf.predict(images[:1])  # warm-up: first call allocates
    rounds: dict[str, list[dict]] = {name: [] for name in models}
    for r in range(max(1, args.rounds)):
        for name in (list(models) if r % 2 == 0 else list(models)[::-1]):
            rounds[name].append(_bench_round(models[name], args, images))
    views = len(models[first].card.tta_views)
    out = {"bench": "model", "model": str(args.model), "threads": args.threads, "rounds": args.rounds,
           "torch_gate": None if args.torch_gate is None else str(args.torch_gate),
           "cpu": cpu_model(), "load_average": [round(x, 2) for x in os.getloadavg()],
           **{name: _summary(rs, views) for name, rs in rounds.items()}}
    for key in ("predict_b1_ms", "predict_b16_ms", "forward_single_view_b1_ms"):
        out[f"{first}_over_{other}_{key.removesuffix('_ms')}"] = _ratio(rounds, first, other, key)
    if args.compare_graphs:
        out.update({f"classify_100_images_peak_rss_mib_{g}": _classify_peak_memory(args.model, paths, g)
                    for g in ("int8", "float")})
    elif not args.compare_sessions:
        out["classify_100_images_peak_rss_mib"] = _classify_peak_memory(args.model, paths)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
