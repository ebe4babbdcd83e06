"""FakeStationControl: the StationControl protocol over a card.json, no model loaded; card writers."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inspector.control import ActiveModel, TriggerReceipt
from inspector.domain import Frame
from inspector.model.card import ModelCard, Thresholds


def write_card(folder: Path, name: str | None = None, classes: tuple[str, ...] = ("good", "crack"),
               ng: float = 0.8, review: float = 0.5, anomaly: float | None = None,
               data_hash: str = "") -> Path:
    """A bundle folder holding only a valid card.json (enough to list and to fake-activate)."""
    folder.mkdir(parents=True, exist_ok=True)
    card = {"name": name or folder.name, "arch": "tiny", "classes": list(classes),
            "good_classes": [classes[0]], "input_size": 64, "data_hash": data_hash,
            "thresholds": {"ng": ng, "review": review, "anomaly": anomaly}}
    (folder / "card.json").write_text(json.dumps(card))
    return folder


class FakeStationControl:
    """A station that 'loads' a bundle by reading its card; records every call."""

    def __init__(self, bundle: Path, station_id: str = "st-1", fail_on: set[str] | None = None):
        self.station_id = station_id
        self.calls: list[tuple[str, Any]] = []
        self.fail_on = fail_on or set()
        self._active = ActiveModel(Path(bundle), ModelCard.load(bundle))

    def status(self) -> dict[str, Any]:
        return {"parts": 0}

    def trigger(self, serial: str | None = None, part_ref: str | None = None,
                meta: dict[str, Any] | None = None) -> TriggerReceipt:
        return TriggerReceipt(part_id="p-fake", part_ref=part_ref)

    def latest_frame(self) -> Frame | None:
        return None

    def active_model(self) -> ActiveModel:
        return self._active

    def activate_model(self, bundle: Path) -> ActiveModel:
        self.calls.append(("activate_model", Path(bundle)))
        if Path(bundle).name in self.fail_on:
            from inspector.errors import ModelError

            raise ModelError(f"model bundle {bundle}: model.onnx is missing")
        self._active = ActiveModel(Path(bundle), ModelCard.load(bundle))
        return self._active

    def set_thresholds(self, thresholds: Thresholds) -> ActiveModel:
        self.calls.append(("set_thresholds", thresholds))
        card = dataclasses.replace(self._active.card, thresholds=thresholds)
        self._active = ActiveModel(self._active.bundle, card)
        return self._active


def now() -> datetime:
    return datetime.now(UTC)
