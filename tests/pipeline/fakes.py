"""Fakes at the pipeline's boundaries: a scripted FrameSource, a Classifier and a Store."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from inspector.capture.base import SourceHealth, SourceState
from inspector.domain import Frame, Inspection, Prediction, Verdict
from inspector.errors import EndOfSource, ModelError, StoreError
from inspector.model.card import ModelCard, Thresholds

CARD = ModelCard(
    name="fake",
    arch="fake",
    classes=["good", "defect"],
    good_classes=["good"],
    input_size=32,
    thresholds=Thresholds(ng=0.5, review=0.3),
    data_hash="0123456789abcdef",
    # The fakes' images are tiny and may be very dark or bright: only blank or tiny ones are bad.
    quality={"min_mean": 0.0, "max_mean": 255.0, "max_clipped": 1.0},
)


def gray(value: int, size: int = 32) -> np.ndarray:
    """A uint8 image of mean `value` with a fine checkerboard texture (a flat one is a blank
    frame to the quality gate); the fake classifier calls bright (>= 128) images defective."""
    return textured(np.full((size, size), value, dtype=np.uint8))


def textured(image: np.ndarray, amplitude: int = 4) -> np.ndarray:
    """The image with a +-amplitude checkerboard added: same mean, no longer uniform."""
    yy, xx = np.indices(image.shape[:2])
    sign = np.where((yy + xx) % 2 == 0, 1, -1)
    if image.ndim == 3:
        sign = sign[:, :, None]
    out = np.clip(image.astype(np.int16) + amplitude * sign, 0, 255).astype(np.uint8)
    out[0, 0] = image[0, 0]  # tests tell images apart by their first pixel
    return out


class FakeSource:
    """Hands out the given images in order, optionally paced like a live camera.

    `live=True` makes the station treat it as a camera (drop oldest, overflow rows);
    `pace_s` sleeps between frames; `end=False` keeps returning None after the last image
    (a frozen feed) instead of raising EndOfSource.
    """

    def __init__(
        self,
        images: Sequence[np.ndarray],
        *,
        live: bool = False,
        pace_s: float = 0.0,
        names: Sequence[str] | None = None,
        end: bool = True,
        source_id: str = "fake",
    ) -> None:
        self.images = list(images)
        self.names = list(names) if names is not None else None
        self.is_live = live
        self.pace_s = pace_s
        self.end = end
        self.source_id = source_id
        self.delivered: list[Frame] = []
        self.opened = self.closed = False
        self._next = 0
        self._last = 0.0

    def open(self) -> None:
        self.opened = True

    def read(self, timeout: float) -> Frame | None:
        if self._next >= len(self.images):
            if self.end:
                raise EndOfSource("fake source ended")
            time.sleep(min(timeout, 0.01))
            return None
        wait = self._last + self.pace_s - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, timeout))
            if self._last + self.pace_s > time.monotonic():
                return None
        frame = Frame(
            image=self.images[self._next],
            frame_id=self._next + 1,
            source_id=self.source_id,
            t_mono=time.monotonic(),
            t_utc=datetime.now(UTC),
            name=self.names[self._next] if self.names else None,
        )
        self._next += 1
        self._last = frame.t_mono
        self.delivered.append(frame)
        return frame

    def close(self) -> None:
        self.closed = True

    def health(self) -> SourceHealth:
        ended = self._next >= len(self.images)
        return SourceHealth(
            online=not ended or not self.end,
            state=SourceState.ENDED if ended and self.end else SourceState.ONLINE,
            frames=self._next,
            reconnects=0,
            last_frame_age_s=None,
            last_error=None,
        )


class FakeClassifier:
    """Mean brightness >= 128 is a defect (NG), else good (OK); can be slow or fail.

    `fail`: images for which it raises (predicate on the image); `delay_s`: per call.
    Records the size of every batch in `batches`.
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        fail: Callable[[np.ndarray], bool] | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.card = CARD
        self.delay_s = delay_s
        self.fail = fail
        self.gate = gate
        self.batches: list[int] = []

    def predict(self, images: Sequence[np.ndarray], heatmaps: bool = True) -> list[Prediction]:
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail is not None and any(self.fail(img) for img in images):
            raise ModelError("fake model failure")
        return [self._one(img, heatmaps) for img in images]

    @staticmethod
    def _one(image: np.ndarray, heatmaps: bool) -> Prediction:
        score = float(image.mean()) / 255.0
        defect = score >= 0.5
        verdict = Verdict.NG if defect else Verdict.OK
        heat = np.full((8, 8), score, np.float32) if heatmaps and defect else None
        return Prediction(
            label="defect" if defect else "good",
            scores={"good": 1.0 - score, "defect": score},
            defect_score=score,
            verdict=verdict,
            heatmap=heat,
        )


class FakeStore:
    """An in-memory InspectionStore: idempotent on part_id; `down=True` raises StoreError."""

    def __init__(self) -> None:
        self.rows: dict[str, Inspection] = {}
        self.writes = 0
        self.down = False
        self.status: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def write(self, rows: Sequence[Inspection]) -> int:
        with self._lock:
            if self.down:
                raise StoreError("fake database is away")
            self.writes += 1
            new = [r for r in rows if r.part_id not in self.rows]
            for row in new:
                self.rows[row.part_id] = row
            return len(new)

    def set_station_status(self, station_id: str, state: dict[str, Any]) -> None:
        with self._lock:
            if self.down:
                raise StoreError("fake database is away")
            self.status[station_id] = state


class RecordingOutput:
    """A RejectOutput that remembers what it was told."""

    def __init__(self) -> None:
        self.seen: list[Inspection] = []

    def emit(self, inspection: Inspection) -> None:
        self.seen.append(inspection)
