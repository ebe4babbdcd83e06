"""ONNX Runtime classifier: the station's default backend, no torch import anywhere on this path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.errors import ModelError
from inspector.model.card import ModelCard
from inspector.model.feature_bank import FeatureBank
from inspector.model.runtime import BundleRuntime

ONNX_FILE = "model.onnx"
GATE_ONNX_FILE = "anomaly.onnx"  # an attached good-only anomaly gate


def weights_hash(path: Path) -> str:
    """sha256 of an ONNX graph file (weights embedded): the card's record of which graph it is."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def bank_file_for(onnx_file: str) -> str:
    """The feature bank beside a gate's graph: model.onnx -> bank.npy, anomaly.onnx -> anomaly_bank.npy."""
    stem = onnx_file.removesuffix(".onnx")
    return "bank.npy" if stem == "model" else f"{stem}_bank.npy"


GRAPH_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class SessionSettings:
    """How an ONNX Runtime session runs: threads, spinning, graph optimisation.

    Chosen on 2 shared cores (docs/experiments/benchmarks-history.md, issue 32), the default
    bundle's predict([img]):
    no spinning 12-20 ms against 76-120 ms spinning (the classifier's and the gate's idle workers
    spin for the cores the working ones need); 2 threads beat 1 (12.3 vs 20.0 ms); graph level
    "all" beats "extended" and "basic" (19.6 vs 61 / 59 ms: its NCHWc convolution layouts).
    """

    threads: int = 2        # intra-op threads
    inter_threads: int = 1  # sequential execution: the graph is a chain, nothing runs beside it
    spinning: bool = False  # idle intra-op workers sleep instead of spinning for the next run
    graph_level: str = "all"
    # Network inputs (views included) per session run, at most: activations of 320 px inputs
    # outgrow the caches, so small runs are faster per input (2 shared cores: 3.5 ms an input in
    # runs of 1-2, 3.8 in runs of 4, 4.5-4.7 in runs of 8-16; predict on 8 images 1.18x faster than in runs
    # of 8, on one image 1.04x). None: max_batch alone.
    run_inputs: int | None = 1

    def options(self):
        """The onnxruntime.SessionOptions these settings make."""
        import onnxruntime as ort

        if self.graph_level not in GRAPH_LEVELS:
            raise ModelError(f"graph_level {self.graph_level!r}: choose one of {', '.join(GRAPH_LEVELS)}")
        level = {"disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                 "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                 "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                 "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[self.graph_level]
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = self.inter_threads
        opts.graph_optimization_level = level
        opts.log_severity_level = 3
        spin = "1" if self.spinning else "0"
        opts.add_session_config_entry("session.intra_op.allow_spinning", spin)
        opts.add_session_config_entry("session.inter_op.allow_spinning", spin)
        return opts


class OnnxClassifier(BundleRuntime):
    """Runs model.onnx with ONNX Runtime on the CPU."""

    def __init__(self, folder: Path, card: ModelCard, threads: int = 2, max_batch: int = 16,
                 onnx_file: str = ONNX_FILE, session: SessionSettings | None = None) -> None:
        import onnxruntime as ort  # imported here: building a session is the only use

        self.card, self.max_batch, self.onnx_file = card, max_batch, onnx_file
        path = Path(folder) / onnx_file
        if not path.is_file():
            raise ModelError(f"model bundle {folder}: {onnx_file} is missing")
        self.settings = session or SessionSettings(threads=threads)
        if self.settings.run_inputs is not None:
            self.max_batch = max(1, min(max_batch, self.settings.run_inputs))
        opts = self.settings.options()
        try:
            self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"model bundle {folder}: {onnx_file} cannot be loaded ({exc})") from exc
        self._check_against_card(folder)
        if card.weights_hash and weights_hash(path) != card.weights_hash:
            raise ModelError(f"model bundle {folder}: {onnx_file} is not the graph its card was "
                             "written for (weights_hash differs): files of two runs are mixed")
        if card.feature_bank is not None:
            self.bank = FeatureBank.load(Path(folder) / bank_file_for(onnx_file), card.feature_bank)

    def _check_against_card(self, folder: Path) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        wanted = 3 if self.card.feature_bank is not None else 2  # a gate's bank needs its features
        if len(inputs) != 1 or len(outputs) != wanted:
            raise ModelError(f"model bundle {folder}: {self.onnx_file} must have 1 input and "
                             f"{wanted} outputs, it has {len(inputs)} and {len(outputs)}")
        channels = inputs[0].shape[1]
        n_classes = outputs[0].shape[1]
        if channels != self.card.channels or n_classes != len(self.card.classes):
            raise ModelError(
                f"model bundle {folder}: {self.onnx_file} takes {channels} channel(s) and gives "
                f"{n_classes} classes, but card.json says {self.card.channels} and "
                f"{len(self.card.classes)} ({', '.join(self.card.classes)})")
        self._input = inputs[0].name

    def _forward(self, batch: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(None, {self._input: batch.astype(np.float32, copy=False)}))
