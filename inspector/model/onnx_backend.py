"""ONNX Runtime classifier: the station's default backend, no torch import anywhere on this path."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspector.errors import ModelError
from inspector.model.card import GATE_GRAPH_FILES, GRAPH_FILES, ModelCard
from inspector.model.feature_bank import FeatureBank
from inspector.model.runtime import BundleRuntime

ONNX_FILE = GRAPH_FILES["float"]
INT8_ONNX_FILE = GRAPH_FILES["int8"]  # inspector quantize writes it beside model.onnx
GATE_ONNX_FILE = GATE_GRAPH_FILES["float"]  # an attached good-only anomaly gate
GATE_INT8_ONNX_FILE = GATE_GRAPH_FILES["int8"]


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
    # Network inputs (views included) per session run, at most; it also bounds the activations'
    # memory. With the pool fix below, one image's 4 views in one run are fastest on 2 cores
    # (AMD EPYC, default bundle, 8 alternated rounds: predict 1.07x faster than runs of 1 for one
    # image a call, 1.055x for two). Before it, float runs of 1-2 inputs were (3.5 ms an input
    # against 3.8 in runs of 4, 4.5-4.7 in runs of 8-16). None: max_batch alone.
    run_inputs: int | None = 4
    # ONNX Runtime graph rewrites left out. QDQPropagationTransformer moves the quantisation of
    # the first convolution's output ahead of its max pool, so the pool runs on uint8 in plain
    # NCHW, ONNX Runtime's slow path (0.96 ms of a 2.5 ms view on the AMD EPYC); without it the
    # pool stays in the fast float layout and quantises a quarter of the values. Max commutes
    # with the monotone quantisation: the outputs are bit-identical (all 1,344 magnetic-tile
    # images, every view, both INT8 graphs and both float ones), an INT8 view 1.65x faster. ONNX
    # Runtime ignores a name it does not know: a version that renamed it would only lose the speed.
    disabled_optimizers: tuple[str, ...] = ("QDQPropagationTransformer",)

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
    """Runs a bundle's ONNX graph (the one its card names) with ONNX Runtime on the CPU."""

    def __init__(self, folder: Path, card: ModelCard, threads: int = 2, max_batch: int = 16,
                 files: dict[str, str] = GRAPH_FILES, session: SessionSettings | None = None,
                 graph: str | None = None) -> None:
        """`files` names the graphs by kind (GATE_GRAPH_FILES for an attached gate); `graph`
        ("float" or "int8") overrides the graph the card runs on this CPU (benchmarks, judging)."""
        import onnxruntime as ort  # imported here: building a session is the only use

        graph = graph or card.running_graph
        if graph not in files:
            raise ModelError(f"graph {graph!r}: choose one of {', '.join(files)}")
        self.card, self.max_batch, self.graph = card, max_batch, graph
        self.onnx_file = files[graph]
        path = Path(folder) / self.onnx_file
        self._check_graph_present(folder, path, files["float"])
        self.settings = session or SessionSettings(threads=threads)
        if self.settings.run_inputs is not None:
            self.max_batch = max(1, min(max_batch, self.settings.run_inputs))
        try:
            self.session = ort.InferenceSession(str(path), self.settings.options(),
                                                providers=["CPUExecutionProvider"],
                                                disabled_optimizers=list(self.settings.disabled_optimizers))
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"model bundle {folder}: {self.onnx_file} cannot be loaded ({exc})") from exc
        self._check_against_card(folder)
        expected = card.graph_hash(graph)
        if expected and weights_hash(path) != expected:
            raise ModelError(f"model bundle {folder}: {self.onnx_file} is not the graph its card was "
                             "written for (weights_hash differs): files of two runs are mixed")
        if card.feature_bank is not None:
            bank = bank_file_for(files["float"])  # a gate's bank, whichever graph runs
            self.bank = FeatureBank.load(Path(folder) / bank, card.feature_bank)

    def _check_graph_present(self, folder: Path, path: Path, float_file: str) -> None:
        """The graph the card names is recorded in it and is there."""
        int8 = self.graph == "int8"
        gate = float_file != GRAPH_FILES["float"]  # an attached gate: its graph is set in card.gate
        if int8 and not self.card.graph_hash("int8"):
            whose = "its attached gate" if gate else "its classifier"
            raise ModelError(f"model bundle {folder}: card.json records no INT8 graph of {whose}; make "
                             "one with inspector quantize BUNDLE DATASET (the classifier's bundle)")
        if not path.is_file():
            key = '"gate": {"graph": "float"}' if gate else '"graph": "float"'
            hint = (f" (card.json names it: run inspector quantize again, or set {key} to run "
                    f"{float_file})") if int8 else ""
            raise ModelError(f"model bundle {folder}: {self.onnx_file} is missing{hint}")

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
