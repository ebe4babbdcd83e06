"""Load a model bundle folder into a Classifier of the chosen backend."""

from __future__ import annotations

import logging
from pathlib import Path

from inspector import machine
from inspector.errors import ModelError
from inspector.model.base import Classifier
from inspector.model.card import STALE_FAMILIES, ModelCard

BACKENDS = ("onnx", "torch")
logger = logging.getLogger(__name__)


def unjudged_int8(folder: Path, card: ModelCard) -> list[str]:
    """Where the card names an INT8 graph that does not run on this CPU: why, and how to judge it."""
    notes = []
    for what, named in (("classifier", card), ("gate", card.gate_card)):
        if named is None or named.graph != "int8" or named.running_graph == "int8":
            continue
        why, hint = _why_float(named.int8 or {}, machine.int8_kernel(), folder)
        notes.append(f"model bundle {folder}: the {what}'s INT8 graph {why}: its float graph runs{hint}")
    return notes


def _why_float(int8: dict, here: str, folder: Path) -> tuple[str, str]:
    """Why a named INT8 graph does not run on this CPU, and what would make it run, if anything."""
    judged, stale = int8.get("judged"), int8.get(STALE_FAMILIES, [])
    judge = f". To judge it on this CPU: inspector quantize {folder} DATASET --judge"
    if here == machine.UNKNOWN_FAMILY:
        return "cannot be judged on this CPU (no AVX2 or VNNI: its INT8 kernel family is unknown)", ""
    if judged is None:
        return "was judged before judgments were kept by CPU INT8 kernel family", judge
    if here in stale and here not in judged:
        return ("was judged on CPUs of this one's INT8 kernel family under thresholds that have "
                "changed since"), judge
    if here in judged:
        return f"changed the test figures on CPUs of this one's INT8 kernel family ({here})", ""
    families = ", ".join(sorted(judged)) or "none"
    return f"was judged only on CPUs of INT8 kernel family {families}, not this one's ({here})", judge


def load_float_graphs(folder: str | Path, threads: int = 2) -> Classifier:
    """The bundle on its float graphs, classifier and gate (ONNX Runtime): thresholds and the
    card's figures are the float model's; an INT8 graph is judged against them."""
    return load_classifier(folder, "onnx", threads=threads, graph="float", gate_graph="float")


def load_classifier(folder: str | Path, backend: str = "onnx", threads: int = 2,
                    max_batch: int = 16, session=None, graph: str | None = None,
                    gate_graph: str | None = None) -> Classifier:
    """ONNX Runtime by default (no torch import); `torch` needs the [train] extra.

    `session` (onnx_backend.SessionSettings) overrides the ONNX Runtime sessions' settings,
    for the classifier and its gate alike; by default they follow `threads`. The classifier's
    graph is the one the card names (`graph`: model.onnx, or model.int8.onnx); `graph` ("float"
    or "int8") overrides it, for comparisons, as `gate_graph` does the attached gate's. The torch
    backend always runs model.pt (float); an attached gate runs on ONNX Runtime whatever the
    backend, on the graph its card names unless `gate_graph` says.
    An INT8 graph runs only on CPUs of the INT8 kernel families it was judged on
    (ModelCard.running_graph); elsewhere the float graph runs and a warning says why.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model bundle {folder} does not exist or is not a folder")
    card = ModelCard.load(folder)
    if graph is None and gate_graph is None:
        for note in unjudged_int8(folder, card):
            logger.warning("%s", note)
    if backend == "onnx":
        from inspector.model.onnx_backend import OnnxClassifier

        clf = OnnxClassifier(folder, card, threads=threads, max_batch=max_batch, session=session,
                             graph=graph)
    elif backend == "torch":
        try:
            from inspector.model.torch_backend import TorchClassifier
        except ImportError as exc:
            raise ModelError("the torch backend needs torch: pip install 'inspector[train]'") from exc
        clf = TorchClassifier(folder, card, threads=threads, max_batch=max_batch)
    else:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    gate_card = card.gate_card
    if gate_card is not None:
        # The gate always runs on ONNX Runtime, whatever the classifier's backend; its graph is
        # the one its card names (anomaly.onnx, or anomaly.int8.onnx).
        from inspector.model.card import GATE_GRAPH_FILES
        from inspector.model.onnx_backend import OnnxClassifier

        clf.gate = OnnxClassifier(folder, gate_card, threads=threads, max_batch=max_batch,
                                  files=GATE_GRAPH_FILES, session=session, graph=gate_graph)
    return clf
