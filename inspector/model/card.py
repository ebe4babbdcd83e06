"""ModelCard: everything a station needs to know about a model bundle, stored as card.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from inspector import machine
from inspector.errors import ModelError
from inspector.model.fusion import Fusion
from inspector.model.preprocess import SHAPE_KEEPING_VIEWS
from inspector.model.quality import QualityProfile

CARD_FILE = "card.json"
CARD_SCHEMA = 1
# The classifier graphs a bundle may hold, by the card's `graph` field (None: "float").
GRAPH_FILES = {"float": "model.onnx", "int8": "model.int8.onnx"}
# In an INT8 record: the kernel families whose judgments were set aside when the thresholds changed.
STALE_FAMILIES = "judged_under_other_thresholds"
# An attached gate's graphs, by the `graph` field of the card's `gate` (None: "float").
GATE_GRAPH_FILES = {"float": "anomaly.onnx", "int8": "anomaly.int8.onnx"}


@dataclass(frozen=True)
class Thresholds:
    """Verdict thresholds on the defect score: >= ng is NG, >= review is REVIEW, else OK."""

    ng: float
    review: float
    anomaly: float | None = None  # anomaly score at or above which a part is at least REVIEW

    def __post_init__(self) -> None:
        if not (0.0 <= self.review <= self.ng <= 1.0):
            raise ModelError(
                f"thresholds must satisfy 0 <= review <= ng <= 1, got review={self.review} ng={self.ng}"
            )


@dataclass(frozen=True)
class ModelCard:
    """Architecture, classes, preprocessing and thresholds of one trained model."""

    name: str
    arch: str
    classes: list[str]
    good_classes: list[str]
    input_size: int
    thresholds: Thresholds
    arch_params: dict[str, Any] = field(default_factory=dict)
    channels: int = 1
    normalisation: str = "per_image"  # per-image standardisation: mean 0, std 1
    tta_views: list[str] = field(default_factory=lambda: ["identity"])
    # A non-square canvas [height, width] (training chose it from the images' aspect ratio: long
    # narrow parts keep their resolution); None: the input_size square, as every older card.
    input_shape: list[int] | None = None
    recipe: str = "mask-supervised"
    data_hash: str = ""
    weights_hash: str = ""  # sha256 of model.onnx: two runs on the same data are two models
    metrics: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    code_version: str = ""
    created_at: str = ""
    schema: int = CARD_SCHEMA
    gate: dict[str, Any] | None = None  # card of an attached good-only anomaly gate (anomaly.onnx)
    # A gate's good-patch feature bank (bank file beside its ONNX graph): top_k and calibration.
    feature_bank: dict[str, Any] | None = None
    # With a gate fused in (inspector.model.fusion): the calibration that makes one defect score of
    # the classifier's and the gate's; the thresholds then apply to that score and the gate's own
    # OR rule is off (thresholds.anomaly is None).
    fusion: dict[str, Any] | None = None
    # Image-quality limits learnt from the training images (inspector.model.quality); None: the
    # generic limits, which refuse only what no camera image of a part looks like.
    quality: dict[str, Any] | None = None
    # Which classifier graph runs (GRAPH_FILES): None or "float" is model.onnx; "int8" is
    # model.int8.onnx, which `inspector quantize` names only where it kept the test figures, and
    # which then runs on CPUs of the INT8 kernel families it was judged on (running_graph).
    # In an attached gate's card, which of GATE_GRAPH_FILES runs, on the same terms.
    graph: str | None = None
    # The INT8 graph beside model.onnx, when one was made: its sha256 (`weights_hash`), the
    # float graph it was made from (`from_weights_hash`), calibration, and in `judged`, by INT8
    # kernel family (inspector.machine.int8_kernel), both graphs' figures on a CPU of that family.
    int8: dict[str, Any] | None = None

    @property
    def defect_classes(self) -> list[str]:
        return [c for c in self.classes if c not in self.good_classes]

    @property
    def gate_card(self) -> ModelCard | None:
        """The attached anomaly gate's card, or None when the bundle carries no gate."""
        return None if self.gate is None else ModelCard.from_dict(self.gate)

    @property
    def running_graph(self) -> str:
        """The graph that runs on this CPU: the one the card names, but INT8 only where it was
        judged on a CPU of this one's INT8 kernel family and kept the test figures there."""
        return graph_on(self.graph, self.int8, machine.int8_kernel())

    @property
    def verdict_rule(self) -> dict[str, Any]:
        """What turns scores into verdicts: the thresholds, the attached gate (its graph) and its
        fusion where fused."""
        gate = None if self.gate is None else self.gate.get("weights_hash") or self.gate.get("data_hash")
        return {"thresholds": asdict(self.thresholds), "gate": gate, "fusion": self.fusion}

    def with_verdict_rule(self, thresholds: Thresholds, fusion: dict[str, Any] | None,
                          gate: dict[str, Any] | Literal["kept"] | None = "kept") -> ModelCard:
        """This card with new thresholds and fusion (and `gate`: another attached gate's card),
        saved by the tools that change them.

        An INT8 judgment kept the test figures under the rule it was judged at, not under another:
        where the rule changes, every judgment (the classifier's and the gate's) is set aside, so
        the float graph runs until the INT8 one is judged again (`inspector quantize --judge`).
        """
        new = replace(self, thresholds=thresholds, fusion=fusion,
                      gate=self.gate if gate == "kept" else gate)
        if new.verdict_rule == self.verdict_rule:
            return new
        if new.gate is not None and new.gate.get("int8"):
            new = replace(new, gate={**new.gate, "int8": _set_aside(new.gate["int8"])})
        return replace(new, int8=_set_aside(self.int8))

    @property
    def judgments_set_aside(self) -> list[str]:
        """The INT8 kernel families whose judgments (the classifier's or the gate's) were set
        aside when the thresholds changed, and not made again since."""
        records = [self.int8 or {}, (self.gate or {}).get("int8") or {}]
        return sorted({f for r in records for f in r.get(STALE_FAMILIES, [])})

    @property
    def graph_file(self) -> str:
        """The classifier graph's file name in the bundle: the graph that runs on this CPU."""
        return GRAPH_FILES[self.running_graph]

    @property
    def gate_graph_file(self) -> str | None:
        """The attached gate's graph file in the bundle (the graph that runs here), or None."""
        gate = self.gate_card
        return None if gate is None else GATE_GRAPH_FILES[gate.running_graph]

    def graph_hash(self, graph: str | None = None) -> str:
        """The sha256 a graph's file must have ("" where the card records none); by default
        the graph that runs on this CPU."""
        if (graph or self.running_graph) == "float":
            return self.weights_hash
        return str((self.int8 or {}).get("weights_hash", ""))

    @property
    def quality_profile(self) -> QualityProfile:
        """The image-quality limits frames must meet before this model judges them."""
        return QualityProfile.from_dict(self.quality)

    @property
    def fused(self) -> Fusion | None:
        """The calibration fusing the attached gate into the defect score, or None."""
        return None if self.fusion is None else Fusion.from_dict(self.fusion)

    @property
    def canvas(self) -> tuple[int, int]:
        """The network's input (height, width): input_shape, else the input_size square."""
        if self.input_shape is None:
            return self.input_size, self.input_size
        return int(self.input_shape[0]), int(self.input_shape[1])

    def _validate_shape(self) -> None:
        """A non-square canvas: two sides of 16 px or more, and views that keep its shape."""
        shape = self.input_shape
        if (not isinstance(shape, list | tuple) or len(shape) != 2
                or not all(isinstance(v, int) and v >= 16 for v in shape)):
            raise ModelError(f"card input_shape must be [height, width] of 16 px or more, got {shape!r}")
        if shape[0] != shape[1]:
            turned = [v for v in self.tta_views if v not in SHAPE_KEEPING_VIEWS]
            if turned:
                raise ModelError(f"card input_shape {shape} is not square: test-time view(s) "
                                 f"{', '.join(turned)} do not keep its shape (use "
                                 f"{', '.join(SHAPE_KEEPING_VIEWS)})")

    @property
    def version(self) -> str:
        """Short identifier stored with each inspection row: name, data and weights, and how a
        gate joins in.

        An attached or fused gate changes what defect_score means, so the rows must tell them apart.
        """
        base = f"{self.name}@{self.data_hash[:8] or 'nohash'}"
        if self.weights_hash:  # the same data retrained (another seed) is another model
            base += f".{self.weights_hash[:8]}"
        if self.running_graph == "int8":  # its scores differ from the float graph's a little
            base += f".int8-{self.graph_hash()[:8]}"
        if self.gate is None:
            return base
        gate_hash = str(self.gate.get("data_hash", ""))[:8] or "nohash"
        gate = self.gate_card
        gate_graph = f".int8-{gate.graph_hash()[:8]}" if gate.running_graph == "int8" else ""
        return f"{base}+{'fused' if self.fusion is not None else 'gate'}@{gate_hash}{gate_graph}"

    def to_json(self) -> str:
        raw = asdict(self)
        for key in ("graph", "int8", "input_shape"):  # unset: readable by an Inspector before them
            if raw[key] is None:
                del raw[key]
        return json.dumps(raw, indent=2, sort_keys=True)

    def save(self, folder: Path) -> None:
        (Path(folder) / CARD_FILE).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelCard:
        try:
            raw = dict(raw)
            raw["thresholds"] = Thresholds(**raw["thresholds"])
            card = cls(**raw)
        except (TypeError, KeyError) as exc:
            raise ModelError(f"card.json is malformed: {exc}") from exc
        card.validate()
        return card

    @classmethod
    def load(cls, folder: Path) -> ModelCard:
        path = Path(folder) / CARD_FILE
        if not path.is_file():
            raise ModelError(f"model bundle {folder}: {CARD_FILE} is missing")
        try:
            raw = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelError(f"model bundle {folder}: {CARD_FILE} is not valid JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise ModelError(f"model bundle {folder}: {CARD_FILE} must hold a JSON object")
        return cls.from_dict(raw)

    def validate(self) -> None:
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes):
            raise ModelError(f"card lists {self.classes!r}: need at least two distinct classes")
        unknown = [c for c in self.good_classes if c not in self.classes]
        if unknown or not self.good_classes:
            raise ModelError(f"card good_classes {self.good_classes!r} must name listed classes")
        if self.channels not in (1, 3) or self.input_size < 16:
            raise ModelError(f"card has bad input: channels={self.channels} size={self.input_size}")
        if self.input_shape is not None:
            self._validate_shape()
        if self.feature_bank is not None and not isinstance(self.feature_bank, dict):
            raise ModelError("card feature_bank must be a JSON object (top_k, calibration)")
        if self.gate is not None:
            if not isinstance(self.gate, dict):
                raise ModelError("card gate must be the gate's card (a JSON object)")
            if self.thresholds.anomaly is None and self.fusion is None:
                raise ModelError("card carries a gate but no thresholds.anomaly")
            gate = self.gate
            _validate_graph(gate.get("graph"), gate.get("int8"), str(gate.get("weights_hash", "")),
                            GATE_GRAPH_FILES, "card gate")  # first: its messages name the gate's files
            self.gate_card  # noqa: B018 - validates the nested card
        if self.fusion is not None:
            if self.gate is None:
                raise ModelError("card fuses a gate but carries none")
            if self.thresholds.anomaly is not None:
                raise ModelError("card fuses its gate into the defect score: thresholds.anomaly "
                                 "(the OR rule) must be null")
            Fusion.from_dict(self.fusion)
        self._validate_graph()
        if self.quality is not None:
            if not isinstance(self.quality, dict):
                raise ModelError("card quality must be a JSON object of image-quality limits")
            self.quality_profile  # noqa: B018 - validates the limits

    def _validate_graph(self) -> None:
        _validate_graph(self.graph, self.int8, self.weights_hash, GRAPH_FILES, "card")


def graph_on(graph: str | None, int8: dict[str, Any] | None, kernel: str) -> str:
    """Which graph a card (or its gate's) runs on a CPU of this INT8 kernel family.

    One INT8 graph gives other outputs under another kernel family (inspector.machine), so the
    figures it kept where it was judged do not hold there until it is judged there too
    (`inspector quantize --judge`). A record from before judgments by family (no `judged`) names
    no family, so its graph runs float everywhere until judged again; so does an unknown family.
    """
    if graph != "int8" or kernel == machine.UNKNOWN_FAMILY:
        return "float"
    here = ((int8 or {}).get("judged") or {}).get(kernel) or {}
    return "int8" if here.get("kept_test_figures") is True else "float"


def _set_aside(int8: dict[str, Any] | None) -> dict[str, Any] | None:
    """An INT8 record whose judgments no longer hold: none kept, the families judged before named."""
    if not int8 or not int8.get("judged"):
        return int8
    stale = sorted(set(int8.get(STALE_FAMILIES, [])) | set(int8["judged"]))
    return {**int8, "judged": {}, STALE_FAMILIES: stale}


def _validate_graph(graph: str | None, int8: Any, weights_hash: str, files: dict[str, str],
                    where: str) -> None:
    """A card's (or its gate's) choice of graph names a kind it records, made from its float graph."""
    if graph is not None and graph not in files:
        raise ModelError(f"{where} graph {graph!r}: choose one of {', '.join(files)}")
    if int8 is not None and not isinstance(int8, dict):
        raise ModelError(f"{where} int8 must be a JSON object (the INT8 graph's record)")
    judged = (int8 or {}).get("judged")
    if judged is not None and not (isinstance(judged, dict)
                                   and all(isinstance(j, dict) for j in judged.values())):
        raise ModelError(f"{where} int8.judged must map INT8 kernel families to judgments (objects)")
    if graph == "int8" and not (int8 or {}).get("weights_hash"):
        raise ModelError(f"{where} names graph int8 but records no int8.weights_hash of "
                         f"{files['int8']}: run inspector quantize again")
    made_from = (int8 or {}).get("from_weights_hash")
    if graph == "int8" and made_from and weights_hash and made_from != weights_hash:
        raise ModelError(f"{where} names graph int8, but its {files['int8']} was made from another "
                         f"{files['float']} (int8.from_weights_hash differs): run inspector quantize again")
