"""`inspector quantize`: an INT8 classifier graph beside model.onnx, and the card's choice of graph."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from inspector.datasets import Sample, scan_dataset
from inspector.errors import DatasetError, InspectorError, ModelError
from inspector.model.card import ModelCard
from inspector.model.evaluation import headline, judge, score_samples, summarise
from inspector.model.loader import load_classifier
from inspector.model.onnx_backend import INT8_ONNX_FILE, ONNX_FILE, OnnxClassifier, weights_hash
from inspector.model.preprocess import apply_view, prepare_batch, read_image
from training.bundle import code_version

logger = logging.getLogger(__name__)
FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "entropy", "percentile")
# The figures the INT8 graph must keep on test, exactly, before the card names it.
KEPT = ("defect_recall", "false_reject_rate", "macro_f1")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspector quantize", description=__doc__)
    p.add_argument("bundle", type=Path, help="classifier bundle folder (model.int8.onnx is written into it)")
    p.add_argument("dataset", type=Path, help="the bundle's dataset: train calibrates, val and test judge")
    p.add_argument("--split-csv", type=Path, default=None, help="image,label,split CSV")
    p.add_argument("--format", choices=FORMATS, default="qdq",
                   help="QDQ (quantise/dequantise pairs ONNX Runtime fuses) or QOperator (QLinearConv)")
    p.add_argument("--method", choices=METHODS, default="minmax", help="activation range calibration")
    p.add_argument("--calibration-images", type=int, default=64,
                   help="train images to calibrate on, each in every test-time view of the card")
    p.add_argument("--keep-float", default="", help="comma-separated node names left in float32")
    p.add_argument("--quantize-input", action="store_true",
                   help="quantise the nodes that read the image too (by default they stay float: on "
                        "magnetic-tile val an 8-bit input lost a defect, docs/benchmarks.md)")
    p.add_argument("--seed", type=int, default=0, help="which train images calibrate")
    p.add_argument("--threads", type=int, default=2)
    return p


def calibration_inputs(card: ModelCard, samples: list[Sample], n: int, seed: int) -> list[np.ndarray]:
    """N train images preprocessed as at serving time, each in every view: 1 x C x H x W arrays."""
    rng = np.random.default_rng(seed)
    chosen = [samples[i] for i in sorted(rng.permutation(len(samples))[:max(1, n)])]
    batch, _ = prepare_batch([read_image(s.path) for s in chosen], card.canvas)  # as served
    views = card.tta_views or ["identity"]
    return [np.ascontiguousarray(apply_view(batch[i:i + 1], v)) for i in range(len(batch)) for v in views]


class _Reader:
    """onnxruntime.quantization's CalibrationDataReader over prepared inputs."""

    def __init__(self, name: str, inputs: list[np.ndarray]) -> None:
        self._items = iter([{name: x} for x in inputs])

    def get_next(self):
        return next(self._items, None)

    def __iter__(self):
        return self._items


def kept_float(graph: Path, args: argparse.Namespace) -> list[str]:
    """The nodes left in float32: those named, and unless --quantize-input those reading the image."""
    import onnx

    named = [n for n in args.keep_float.split(",") if n]
    if args.quantize_input:
        return named
    model = onnx.load(str(graph))
    inputs = {i.name for i in model.graph.input}
    return named + [n.name for n in model.graph.node if inputs & set(n.input) and n.name not in named]


def quantize_graph(source: Path, target: Path, inputs: list[np.ndarray], args: argparse.Namespace
                   ) -> list[str]:
    """ONNX Runtime's static quantisation: int8 per-channel weights, uint8 activations; returns the
    nodes left in float32."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    with tempfile.TemporaryDirectory(prefix="quantize-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))  # shapes inferred, graph simplified first
        left_float = kept_float(prepared, args)
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[args.method]
        quantize_static(
            str(prepared), str(target), _Reader("image", inputs),
            quant_format=QuantFormat.QDQ if args.format == "qdq" else QuantFormat.QOperator,
            per_channel=True, weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
            calibrate_method=method, nodes_to_exclude=left_float)
        # (not CalibMaxIntermediateOutputs: in ONNX Runtime 1.32 it drops the outputs it should
        # fold in; calibration holds every input's activations, ~4 GB at 64 images x 4 views)
    return left_float


def _judged(model, samples: list[Sample]) -> tuple[dict, dict[str, tuple[str, str, float]]]:
    """(headline figures, each part's (verdict, class, defect score)) of one graph on one split."""
    scored = score_samples(model, samples)
    verdicts = judge(model, scored)
    labels = [model.card.classes[int(k)] for k in scored.probs.argmax(axis=1)]
    parts = {f"{s.label}/{s.path.name}": (v.value, c, round(float(score), 4))
             for s, v, c, score in zip(scored.samples, verdicts, labels, scored.defect_scores, strict=True)}
    return headline(summarise(model, scored)), parts


def compare(float_model, int8_model, samples: list[Sample]) -> dict:
    """Both graphs' figures on one split and every part whose verdict or class changes (with both
    defect scores), and how far the defect scores moved."""
    f_fig, f_parts = _judged(float_model, samples)
    q_fig, q_parts = _judged(int8_model, samples)
    changed = [{"part": k, "float": list(f_parts[k]), "int8": list(q_parts[k])}
               for k in f_parts if f_parts[k][:2] != q_parts[k][:2]]
    moved = np.abs([f_parts[k][2] - q_parts[k][2] for k in f_parts])
    return {"float": f_fig, "int8": q_fig, "changed": changed,
            "score_moved": {"median": float(np.median(moved)), "max": float(moved.max())}}


def _command() -> str:
    return os.environ.get("INSPECTOR_TRAIN_COMMAND", "") or " ".join(sys.argv)


def main(args: argparse.Namespace) -> dict:
    bundle = args.bundle
    float_model = load_classifier(bundle, "onnx", threads=args.threads, graph="float")
    card = float_model.card
    if card.recipe == "good-only":
        raise ModelError(f"{bundle} is a good-only gate: its bank and calibration were fitted on "
                         "float features; quantise a classifier")
    index = scan_dataset(args.dataset, args.split_csv)
    empty = [split for split in ("train", "val", "test") if not index.split(split)]
    if empty:  # train calibrates, val and test judge: each needs images
        raise DatasetError(f"{args.dataset}: no images in split(s) {', '.join(empty)}")
    inputs = calibration_inputs(card, index.split("train"), args.calibration_images, args.seed)
    with tempfile.TemporaryDirectory(prefix="int8-", dir=bundle) as tmp:
        staged = Path(tmp) / INT8_ONNX_FILE
        left_float = quantize_graph(bundle / ONNX_FILE, staged, inputs, args)
        record = {"weights_hash": weights_hash(staged), "from_weights_hash": card.weights_hash,
                  "format": args.format, "per_channel": True, "weights": "int8", "activations": "uint8",
                  "method": args.method, "calibration_images": args.calibration_images,
                  "calibration_inputs": len(inputs), "calibration_seed": args.seed,
                  "views": card.tta_views, "keep_float": left_float}
        trial = dataclasses.replace(card, int8=record)
        int8_model = OnnxClassifier(Path(tmp), trial, threads=args.threads, graph="int8")
        int8_model.gate = float_model.gate  # the gate stays float: its bank holds float features
        figures = {split: compare(float_model, int8_model, index.split(split)) for split in ("val", "test")}
        test = figures["test"]
        kept = all(test["int8"][k] == test["float"][k] for k in KEPT)
        record.update(figures=figures, kept_test_figures=kept, command=_command(),
                      code_version=code_version(), created_at=datetime.now(UTC).isoformat(timespec="seconds"))
        new = dataclasses.replace(card, int8=record, graph="int8" if kept else "float")
        new.validate()
        os.replace(staged, bundle / INT8_ONNX_FILE)
    new.save(bundle)
    logger.info("%s: %s runs (test %s)", bundle, new.graph_file,
                "kept" if kept else "changed: " + json.dumps({k: test["int8"][k] for k in KEPT}))
    return {"bundle": str(bundle), "graph": new.graph, **{k: v for k, v in record.items()
                                                           if k not in ("figures",)},
            "figures": {s: {g: {k: f[g][k] for k in KEPT} for g in ("float", "int8")} | {
                "changed": f["changed"]} for s, f in figures.items()}}


def cli() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        print(json.dumps(main(get_args_parser().parse_args())))
    except InspectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(cli())
