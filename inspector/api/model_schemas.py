"""Schemas of the models routes: bundles, the active model, swaps and threshold changes."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, model_validator

from inspector.api.schemas import finite
from inspector.bundles.catalog import BundleInfo
from inspector.bundles.manager import Swap
from inspector.bundles.rethreshold import RethresholdReport
from inspector.control import ActiveModel
from inspector.model.card import ModelCard, Thresholds
from inspector.storage.rescoring import MAX_RESCORE_PARTS


class ThresholdsPublic(BaseModel):
    ng: float = Field(description="Defect score at or above which a part is NG.")
    review: float = Field(description="Defect score at or above which a part is at least REVIEW.")
    anomaly: float | None = Field(
        default=None, description="Anomaly score at or above which a part is at least REVIEW "
        "(null: the bundle has no OR-rule gate).")

    @classmethod
    def of(cls, t: Thresholds) -> ThresholdsPublic:
        return cls(**asdict(t))


class CardPublic(BaseModel):
    """What a bundle's card.json says (the parts a person choosing a model needs)."""

    version: str = Field(description="What every row this model scores records as model_version.")
    arch: str
    classes: list[str]
    good_classes: list[str]
    input_size: int
    input_shape: list[int] = Field(description="The network's input canvas, [height, width] in "
                                               "pixels (square unless trained on long parts).")
    recipe: str
    thresholds: ThresholdsPublic
    gate: bool = Field(description="An anomaly gate is attached.")
    fused: bool = Field(description="The gate is fused into the defect score.")
    graphs: dict[str, str] = Field(description="Which graph runs on this station's CPU, float or int8 "
                                               "(`inspector quantize`): the classifier's, and the "
                                               "gate's where one is attached.")
    data_hash: str
    created_at: str
    metrics: dict[str, Any]

    @classmethod
    def of(cls, card: ModelCard) -> CardPublic:
        return cls(version=card.version, arch=card.arch, classes=list(card.classes),
                   good_classes=list(card.good_classes), input_size=card.input_size,
                   input_shape=list(card.canvas),
                   recipe=card.recipe, thresholds=ThresholdsPublic.of(card.thresholds),
                   gate=card.gate is not None, fused=card.fusion is not None,
                   graphs={"classifier": card.running_graph} | (
                       {} if card.gate is None else {"gate": card.gate_card.running_graph}),
                   data_hash=card.data_hash, created_at=card.created_at,
                   metrics=finite(dict(card.metrics)))


class BundlePublic(BaseModel):
    """One folder of the models folder: its card, or why it cannot be loaded."""

    name: str = Field(description="The folder name: what `POST /models/{name}/activate` takes.")
    ok: bool
    error: str | None = Field(default=None, description="Why the bundle cannot be loaded.")
    active: bool = Field(description="The running station judges with this bundle now.")
    card: CardPublic | None = None

    @classmethod
    def of(cls, info: BundleInfo, active: bool) -> BundlePublic:
        card = None if info.card is None else CardPublic.of(info.card)
        return cls(name=info.name, ok=info.ok, error=info.error, active=active, card=card)


class BundlesPublic(BaseModel):
    """Every bundle in the models folder, by name (a folder is small: no pages)."""

    items: list[BundlePublic]
    count: int
    active: str | None = Field(description="Version of the running station's model "
                               "(null: no station runs in this process).")


class ActiveModelPublic(BaseModel):
    name: str = Field(description="The bundle's folder name.")
    version: str
    card: CardPublic

    @classmethod
    def of(cls, active: ActiveModel) -> ActiveModelPublic:
        return cls(name=active.bundle.name, version=active.version, card=CardPublic.of(active.card))


class SwapPublic(BaseModel):
    """A model change: parts in flight finish on `before`, every later part uses `after`."""

    before: ActiveModelPublic
    after: ActiveModelPublic
    warning: str | None = None

    @classmethod
    def of(cls, swap: Swap) -> SwapPublic:
        return cls(before=ActiveModelPublic.of(swap.before), after=ActiveModelPublic.of(swap.after),
                   warning=swap.warning)


class ThresholdsCreate(BaseModel):
    """New thresholds for the active model, tried on the stored scores of the last `last_n` parts."""

    ng: float = Field(ge=0.0, le=1.0)
    review: float = Field(ge=0.0, le=1.0)
    anomaly: float | None = Field(default=None, ge=0.0, le=1.0, description=(
        "Omitted: the active model's own anomaly threshold stays."))
    last_n: int = Field(default=1000, ge=1, le=MAX_RESCORE_PARTS,
                        description="How many of the newest parts to re-judge.")

    @model_validator(mode="after")
    def _ordered(self) -> ThresholdsCreate:
        if self.review > self.ng:
            raise ValueError(f"review ({self.review}) must not exceed ng ({self.ng})")
        return self


class FlipPublic(BaseModel):
    part_id: str
    serial: str
    inspected_at: datetime
    defect_score: float
    anomaly_score: float | None
    before: str = Field(description="The verdict the line was told.")
    after: str = Field(description="The verdict the new thresholds give.")


class RethresholdPublic(BaseModel):
    """What the thresholds change over the last parts; stored rows are never rewritten."""

    dry_run: bool
    applied: bool = Field(description="The running station judges every later part with them.")
    stored_rows_rewritten: bool = Field(
        default=False, description="Always false: rows keep the verdict the line was told.")
    message: str
    model_version: str | None = Field(description="Only parts this model scored were re-judged.")
    previous: ThresholdsPublic | None
    thresholds: ThresholdsPublic
    parts: int = Field(description="Parts re-judged (at most last_n).")
    judged: int = Field(description="Of them, parts the model scored; the others never change.")
    before: dict[str, int] = Field(description="Parts per verdict as stored.")
    after: dict[str, int] = Field(description="Parts per verdict with the new thresholds.")
    flips_total: int
    flips: list[FlipPublic] = Field(description="Parts whose verdict would change, oldest first "
                                    "(at most 1000).")

    @classmethod
    def of(cls, report: RethresholdReport, **fields: Any) -> RethresholdPublic:
        flips = [FlipPublic.model_validate(f, from_attributes=True) for f in report.flips]
        return cls(parts=report.parts, judged=report.judged, before=report.before,
                   after=report.after, flips_total=report.flips_total, flips=flips, **fields)
