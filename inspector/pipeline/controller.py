"""StationController: a running Station behind the StationControl protocol (API, line protocols)."""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from inspector.control import ActiveModel, TriggerReceipt
from inspector.domain import Frame
from inspector.errors import ModelError
from inspector.model.card import Thresholds
from inspector.pipeline.settings import session_threads
from inspector.pipeline.station import Station

logger = logging.getLogger(__name__)

KNOWN_REFS = 100_000  # part references remembered in memory for idempotent retries


class StationController:
    """Triggers with idempotency keys, status, the latest frame and model swaps of one Station.

    A part_ref seen before returns the part it created (from memory, or through `lookup` from
    the store after a restart) instead of a second part. Model loading happens in the caller's
    thread; the station swaps the loaded model in between two batches.
    """

    def __init__(self, station: Station, bundle: Path, *,
                 load: Callable[[Path], Any] | None = None,
                 lookup: Callable[[str], str | None] | None = None,
                 manual: bool = False, backend: str = "onnx") -> None:
        self.station = station
        self.station_id = station.settings.station_id
        self._bundle = Path(bundle)
        threads = session_threads(station.settings.inference_threads)  # as the station's own model
        self._load = load or partial(_load_bundle, backend=backend, threads=threads)
        self._lookup = lookup
        self._manual = manual
        self._lock = threading.Lock()
        self._swapping = threading.Lock()  # a threshold change reads the model it changes
        self._refs: OrderedDict[str, str] = OrderedDict()

    def status(self) -> dict[str, Any]:
        return self.station.metrics().to_dict()

    def trigger(self, serial: str | None = None, part_ref: str | None = None,
                meta: dict[str, Any] | None = None) -> TriggerReceipt:
        with self._lock:  # one caller at a time per ref: a retry racing its original is a retry
            known = self._known(part_ref)
            if known is not None:
                return TriggerReceipt(known, part_ref, duplicate=True)
            part_id = self._announce(serial, part_ref)
            if part_ref is not None:
                self._refs[part_ref] = part_id
                while len(self._refs) > KNOWN_REFS:
                    self._refs.popitem(last=False)
        return TriggerReceipt(part_id, part_ref)

    def _known(self, part_ref: str | None) -> str | None:
        if part_ref is None:
            return None
        if part_ref in self._refs:
            return self._refs[part_ref]
        return self._lookup(part_ref) if self._lookup is not None else None

    def _announce(self, serial: str | None, part_ref: str | None) -> str:
        if self.station.parts.trigger.accepts_requests:
            return self.station.trigger(serial, part_ref=part_ref)
        if not self._manual:
            from inspector.pipeline.station import StationStateError

            raise StationStateError(
                f"trigger type is {self.station.parts.trigger.kind}: HTTP triggers need "
                "`trigger: {type: external}`, or `api.manual_trigger: true` for a manual one")
        return self.station.manual_trigger(serial, part_ref)

    def latest_frame(self) -> Frame | None:
        return self.station.latest_frame()

    def active_model(self) -> ActiveModel:
        card = getattr(self.station.classifier, "card", None)
        if card is None:
            raise ModelError("the station has no model loaded")
        return ActiveModel(self._bundle, card)

    def activate_model(self, bundle: Path) -> ActiveModel:
        classifier = self._load(Path(bundle))  # raises ModelError; the running model stays
        with self._swapping:
            self.station.swap_model(classifier)
            self._bundle = Path(bundle)
        return self.active_model()

    def set_thresholds(self, thresholds: Thresholds) -> ActiveModel:
        with self._swapping:  # not over a model activated meanwhile
            current = self.station.classifier
            if current is None:
                raise ModelError("the station has no model loaded")
            # The ONNX sessions are shared (thread-safe to run); only the card's thresholds differ.
            changed = copy.copy(current)
            changed.card = dataclasses.replace(current.card, thresholds=thresholds)
            self.station.swap_model(changed)
        return self.active_model()


def _load_bundle(bundle: Path, backend: str, threads: int) -> Any:
    from inspector.model.loader import load_classifier

    return load_classifier(bundle, backend, threads=threads)
