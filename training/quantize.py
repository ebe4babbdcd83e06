"""`inspector quantize`: INT8 graphs beside model.onnx and an attached gate's, and the card's choice."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from inspector import machine
from inspector.datasets import Sample, scan_dataset
from inspector.errors import DatasetError, InspectorError, ModelError
from inspector.model.card import GATE_GRAPH_FILES, STALE_FAMILIES, ModelCard
from inspector.model.evaluation import headline, judge, score_samples, summarise
from inspector.model.feature_bank import image_bank_path
from inspector.model.loader import load_classifier, load_float_graphs
from inspector.model.onnx_backend import (
    GATE_INT8_ONNX_FILE,
    GATE_ONNX_FILE,
    INT8_ONNX_FILE,
    ONNX_FILE,
    OnnxClassifier,
    bank_file_for,
    weights_hash,
)
from inspector.model.preprocess import apply_view, prepare_batch, read_image
from training.bundle import code_version

logger = logging.getLogger(__name__)
FORMATS = ("qdq", "qoperator")
METHODS = ("minmax", "entropy", "percentile")
# The figures the INT8 graph must keep on test, exactly, before the card names it.
KEPT = ("defect_recall", "false_reject_rate", "macro_f1")


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="inspector quantize", description=__doc__)
    p.add_argument("bundle", type=Path, help="classifier bundle folder (model.int8.onnx, and "
                                             "anomaly.int8.onnx for an attached gate, are written into it)")
    p.add_argument("dataset", type=Path, help="the bundle's dataset: train calibrates, val and test judge")
    p.add_argument("--split-csv", type=Path, default=None, help="image,label,split CSV")
    p.add_argument("--format", choices=FORMATS, default="qdq",
                   help="QDQ (quantise/dequantise pairs ONNX Runtime fuses) or QOperator (QLinearConv)")
    p.add_argument("--method", choices=METHODS, default="minmax", help="activation range calibration")
    p.add_argument("--calibration-images", type=int, default=64,
                   help="train images to calibrate on, each in every test-time view of the card")
    p.add_argument("--keep-float", default="",
                   help="comma-separated node names of the classifier left in float32")
    p.add_argument("--quantize-input", action="store_true",
                   help="quantise the nodes that read the image too (by default they stay float: on "
                        "magnetic-tile val an 8-bit input lost a defect, docs/benchmarks.md)")
    p.add_argument("--seed", type=int, default=0, help="which train images calibrate")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--judge", action="store_true",
                   help="judge the bundle's INT8 graphs as they are on this CPU and add the judgment "
                        "to the card (nothing rebuilt): an INT8 graph runs only on CPUs of the INT8 "
                        "kernel families (VNNI, AVX2) it was judged on, since their outputs differ")
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


def kept_float(model, args: argparse.Namespace, named: bool = True) -> list[str]:
    """The nodes of an onnx ModelProto left in float32: those named (the classifier's), and unless
    --quantize-input those reading the image."""
    kept = [n for n in args.keep_float.split(",") if n] if named else []
    if args.quantize_input:
        return kept
    inputs = {i.name for i in model.graph.input}
    return kept + [n.name for n in model.graph.node if inputs & set(n.input) and n.name not in kept]


def feature_branch(model) -> list[str]:
    """A gate's nodes (of an onnx ModelProto) that only its patch-feature output (the third) needs:
    the pooling of encoder activations its bank compares. They stay float: the bank holds float
    features, and on magnetic-tile quantising them made the gate slower (0.91x) and moved its
    scores twice as far."""
    names = [n.name for n in model.graph.node]
    if "" in names or len(set(names)) != len(names):  # nodes are excluded from quantisation by name
        raise ModelError("the gate's nodes need unique names to leave its feature branch float")
    made_by = {out: node for node in model.graph.node for out in node.output}
    needed, todo = set(), [o.name for o in model.graph.output[:2]]  # logits, defect map
    while todo:
        node = made_by.get(todo.pop())
        if node is not None and node.name not in needed:
            needed.add(node.name)
            todo.extend(node.input)
    return [n.name for n in model.graph.node if n.name not in needed]


def quantize_graph(source: Path, target: Path, inputs: list[np.ndarray], args: argparse.Namespace,
                   gate: bool = False) -> list[str]:
    """ONNX Runtime's static quantisation: int8 per-channel weights, uint8 activations; returns the
    nodes left in float32 (a gate's: those reading the image and its feature branch)."""
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
        import onnx

        model = onnx.load(str(prepared))  # read once for both rules
        left_float = kept_float(model, args, named=not gate)
        if gate:
            left_float += [n for n in feature_branch(model) if n not in left_float]
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


def _judged(model, samples: list[Sample]) -> tuple[dict, dict[str, tuple]]:
    """(headline figures, each part's (verdict, class, defect score, gate's anomaly score or None))
    of one graph on one split."""
    scored = score_samples(model, samples)
    verdicts = judge(model, scored)
    labels = [model.card.classes[int(k)] for k in scored.probs.argmax(axis=1)]
    anomaly = ([None] * len(labels) if scored.anomaly_scores is None else
               [round(float(a), 4) for a in scored.anomaly_scores])
    parts = {f"{s.label}/{s.path.name}": (v.value, c, round(float(score), 4), a)
             for s, v, c, score, a in zip(scored.samples, verdicts, labels, scored.defect_scores, anomaly,
                                          strict=True)}
    return headline(summarise(model, scored)), parts


def _moved(before: dict, after: dict, k: int) -> dict | None:
    """Median and largest move of the k-th score of each part (None where the parts have none)."""
    moved = [abs(before[p][k] - after[p][k]) for p in before if before[p][k] is not None]
    return {"median": float(np.median(moved)), "max": float(np.max(moved))} if moved else None


def compare(float_model, int8_model, samples: list[Sample]) -> dict:
    """Both graphs' figures on one split and every part whose verdict or class changes (with both
    scores), and how far the defect scores (and an attached gate's anomaly scores) moved."""
    f_fig, f_parts = _judged(float_model, samples)
    q_fig, q_parts = _judged(int8_model, samples)
    changed = [{"part": k, "float": list(f_parts[k]), "int8": list(q_parts[k])}
               for k in f_parts if f_parts[k][:2] != q_parts[k][:2]]
    out = {"float": f_fig, "int8": q_fig, "changed": changed, "score_moved": _moved(f_parts, q_parts, 2)}
    anomaly = _moved(f_parts, q_parts, 3)
    return out if anomaly is None else {**out, "anomaly_score_moved": anomaly}


def _command() -> str:
    return os.environ.get("INSPECTOR_TRAIN_COMMAND", "") or " ".join(sys.argv)


def _stamp() -> dict:
    """Which command and code wrote a record, and when."""
    return {"command": _command(), "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}


def _record(staged: Path, source_hash: str, inputs: list, views: list[str], left_float: list[str],
            args: argparse.Namespace) -> dict:
    """What the card keeps of an INT8 graph before it is judged: its hash, source and calibration."""
    return {"weights_hash": weights_hash(staged), "from_weights_hash": source_hash,
            "format": args.format, "per_channel": True, "weights": "int8", "activations": "uint8",
            "method": args.method, "calibration_images": args.calibration_images,
            "calibration_inputs": len(inputs), "calibration_seed": args.seed,
            "views": views, "keep_float": left_float, **_stamp()}


def _judged_here(record: dict, figures: dict) -> dict:
    """The record with both graphs' figures on this CPU added under its INT8 kernel family, and
    whether INT8 kept the test figures the card requires there."""
    test = figures["test"]
    kept = all(test["int8"][k] == test["float"][k] for k in KEPT)
    judgment = {"cpu": machine.cpu_model(), "figures": figures, "kept_test_figures": kept, **_stamp()}
    # A record from before judgments by family kept one judgment at its top level, of no known
    # family (ModelCard.running_graph ignores it): it is dropped.
    # Families set aside when the thresholds changed stay named until each is judged again.
    here = machine.int8_kernel()
    kept_keys = {k: v for k, v in record.items()
                 if k not in ("figures", "kept_test_figures", STALE_FAMILIES)}
    stale = [f for f in record.get(STALE_FAMILIES, []) if f != here]
    return {**kept_keys, **({STALE_FAMILIES: stale} if stale else {}),
            "judged": {**record.get("judged", {}), here: judgment}}


def _card_judged(card: ModelCard, record: dict, gate: dict | None = None) -> ModelCard:
    """The card with the classifier's (and, given, the gate's) judged INT8 record, each naming the
    graph its judgments choose."""
    new = dataclasses.replace(card, int8=record, graph=_graph_named(record))
    if gate is None:
        return new
    return dataclasses.replace(new, gate={**card.gate, "int8": gate, "graph": _graph_named(gate)})


def _runs_here(card: ModelCard, int8_model, float_model):
    """The classifier the gate is judged beside: the graph the card runs on this CPU (both models
    carry the float gate)."""
    return int8_model if card.running_graph == "int8" else float_model


def _graph_named(record: dict) -> str:
    """The graph a card names for a judged INT8 record: int8 where some kernel family kept the
    test figures (ModelCard.running_graph then picks by this CPU's family)."""
    return "int8" if any(j["kept_test_figures"] for j in record["judged"].values()) else "float"


def _classifier_figures(float_model, int8_model, index) -> dict:
    return {split: compare(float_model, int8_model, index.split(split)) for split in ("val", "test")}


def _gate_figures(model, int8_gate: OnnxClassifier, index) -> dict:
    """The bundle with its INT8 gate against the same bundle with its float gate."""
    with_int8 = copy.copy(model)  # the same classifier sessions, another gate
    with_int8.gate = int8_gate
    return {split: compare(model, with_int8, index.split(split)) for split in ("val", "test")}


def _quantize_classifier(bundle: Path, float_model, index, tmp: Path, args: argparse.Namespace
                         ) -> tuple[dict, OnnxClassifier]:
    """model.int8.onnx staged in tmp, judged against model.onnx (both with the float gate); its
    record and the INT8 classifier."""
    card = float_model.card
    inputs = calibration_inputs(card, index.split("train"), args.calibration_images, args.seed)
    staged = tmp / INT8_ONNX_FILE
    left_float = quantize_graph(bundle / ONNX_FILE, staged, inputs, args)
    record = _record(staged, card.weights_hash, inputs, card.tta_views, left_float, args)
    int8_model = OnnxClassifier(tmp, dataclasses.replace(card, int8=record), threads=args.threads,
                                graph="int8")
    int8_model.gate = float_model.gate
    return _judged_here(record, _classifier_figures(float_model, int8_model, index)), int8_model


def _quantize_gate(bundle: Path, model, index, tmp: Path, args: argparse.Namespace) -> dict:
    """The attached gate's anomaly.int8.onnx staged in tmp, calibrated on good train images and
    judged in the bundle (the classifier graph its card will name) against its float gate."""
    gate_card = model.card.gate_card
    good = [s for s in index.split("train") if s.label in model.card.good_classes]
    inputs = calibration_inputs(gate_card, good, args.calibration_images, args.seed)
    staged = tmp / GATE_INT8_ONNX_FILE
    left_float = quantize_graph(bundle / GATE_ONNX_FILE, staged, inputs, args, gate=True)
    bank = bank_file_for(GATE_ONNX_FILE)
    for name in (bank, image_bank_path(Path(bank)).name):  # the loader reads them beside the graph
        if (bundle / name).is_file():
            shutil.copyfile(bundle / name, tmp / name)
    record = _record(staged, gate_card.weights_hash, inputs, gate_card.tta_views, left_float, args)
    int8_gate = OnnxClassifier(tmp, dataclasses.replace(gate_card, int8=record), threads=args.threads,
                               files=GATE_GRAPH_FILES, graph="int8")
    return _judged_here(record, _gate_figures(model, int8_gate, index))


def _quantizable(bundle: Path, card: ModelCard) -> None:
    if card.recipe == "good-only":
        raise ModelError(f"{bundle} is a good-only gate: quantise the classifier it is attached "
                         "to (inspector attach-gate), which quantises the gate with it")


def _dataset(args: argparse.Namespace, card: ModelCard, calibrate: bool = True):
    """The bundle's dataset index: train calibrates (unless only judging), val and test judge, so
    each needs images."""
    index = scan_dataset(args.dataset, args.split_csv)
    needed = ("train", "val", "test") if calibrate else ("val", "test")
    empty = [split for split in needed if not index.split(split)]
    if empty:
        raise DatasetError(f"{args.dataset}: no images in split(s) {', '.join(empty)}")
    if (calibrate and card.gate is not None
            and not any(s.label in card.good_classes for s in index.split("train"))):
        raise DatasetError(f"{args.dataset}: no good train images ({', '.join(card.good_classes)}) "
                           "to calibrate the attached gate on")
    return index


def main(args: argparse.Namespace) -> dict:
    if args.judge:
        return judge_here(args)
    bundle = args.bundle
    float_model = load_float_graphs(bundle, args.threads)
    card = float_model.card
    _quantizable(bundle, card)
    index = _dataset(args, card)
    with tempfile.TemporaryDirectory(prefix="int8-", dir=bundle) as tmp:
        record, int8_model = _quantize_classifier(bundle, float_model, index, Path(tmp), args)
        gate = None
        if card.gate is not None:
            judging = _runs_here(_card_judged(card, record), int8_model, float_model)
            gate = _quantize_gate(bundle, judging, index, Path(tmp), args)
        new = _card_judged(card, record, gate)
        new.validate()
        os.replace(Path(tmp) / INT8_ONNX_FILE, bundle / INT8_ONNX_FILE)
        if gate is not None:
            os.replace(Path(tmp) / GATE_INT8_ONNX_FILE, bundle / GATE_INT8_ONNX_FILE)
    new.save(bundle)
    return _report(bundle, new, record, gate)


def judge_here(args: argparse.Namespace) -> dict:
    """The bundle's INT8 graphs, as they are, judged on this CPU: the judgment is added to the
    card under this CPU's INT8 kernel family, so the graphs run on CPUs of that family where they
    kept the test figures. Nothing is rebuilt."""
    bundle = args.bundle
    card = ModelCard.load(bundle)
    _quantizable(bundle, card)
    if card.int8 is None:
        raise ModelError(f"{bundle} has no INT8 graph to judge: make one with inspector quantize "
                         f"{bundle} DATASET (without --judge)")
    index = _dataset(args, card, calibrate=False)
    float_model = load_float_graphs(bundle, args.threads)
    int8_model = load_classifier(bundle, "onnx", threads=args.threads, graph="int8", gate_graph="float")
    record = _judged_here(card.int8, _classifier_figures(float_model, int8_model, index))
    gate = None
    if card.gate is not None and card.gate.get("int8") is not None:
        judging = _runs_here(_card_judged(card, record), int8_model, float_model)
        int8_gate = OnnxClassifier(bundle, card.gate_card, threads=args.threads, files=GATE_GRAPH_FILES,
                                   graph="int8")
        gate = _judged_here(card.gate["int8"], _gate_figures(judging, int8_gate, index))
    new = _card_judged(card, record, gate)
    new.validate()
    new.save(bundle)
    return _report(bundle, new, record, gate)


def _report(bundle: Path, new: ModelCard, record: dict, gate: dict | None) -> dict:
    """Log which graph runs here and why; what the command prints."""
    for what, rec, runs in (("classifier", record, new.graph_file),
                            ("gate", gate, None if gate is None else new.gate_graph_file)):
        if rec is not None:
            here = rec["judged"][machine.int8_kernel()]
            test = {g: {k: here["figures"]["test"][g][k] for k in KEPT} for g in ("float", "int8")}
            logger.info("%s: on this CPU (INT8 kernel family %s) the %s runs %s (test %s)", bundle,
                        machine.int8_kernel(), what, runs,
                        "kept" if here["kept_test_figures"] else "changed: " + json.dumps(test))
    return {"bundle": str(bundle), "graph": new.graph, "runs_here": new.running_graph,
            "int8_kernel": machine.int8_kernel(), **_printed(record),
            **({} if gate is None else {"gate": {"graph": new.gate_card.graph,
                                                 "runs_here": new.gate_card.running_graph,
                                                 **_printed(gate)}})}


def _printed(record: dict) -> dict:
    """A graph's record as the command prints it: the headline figures, not every part's score."""
    def brief(judgment: dict) -> dict:
        return {**{k: v for k, v in judgment.items() if k != "figures"},
                "figures": {s: {g: {k: f[g][k] for k in KEPT} for g in ("float", "int8")} | {
                    "changed": f["changed"]} for s, f in judgment["figures"].items()}}
    return {**{k: v for k, v in record.items() if k != "judged"},
            "judged": {kernel: brief(j) for kernel, j in record["judged"].items()}}


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
