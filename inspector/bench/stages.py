"""Where one part's time goes on its way through the station, each step timed alone on one thread.

The steps in station order: decode (capture thread); serial, crop, quality gate, then the model
(inference thread); archive encode (archive workers). The model's `predict` (verdict and heatmap
included) is timed whole, and its parts alone: preprocess, the classifier's views, the gate. The
store's share comes from the flat-out run's CPU per thread (runs.ThreadCpu).
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from inspector.capture.folder import load_image
from inspector.domain import Frame, Trigger
from inspector.model.preprocess import prepare_batch
from inspector.model.quality import QualityGate
from inspector.pipeline.region import InspectRegion
from inspector.pipeline.serial_hook import SerialResolver
from inspector.storage.archive import ImageArchive

STAGES = ("decode", "serial", "crop", "quality", "predict", "preprocess", "classifier", "gate",
          "archive_encode")


class _Clock:
    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = {s: [] for s in STAGES}

    def time(self, stage: str, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.ms[stage].append((time.perf_counter() - t0) * 1000.0)
        return out


def _trigger(image: np.ndarray, i: int) -> Trigger:
    now = datetime.now(UTC)
    frame = Frame(image=image, frame_id=i, source_id="bench", t_mono=time.monotonic(), t_utc=now)
    return Trigger(part_id=f"bench-{i}", t_mono=frame.t_mono, t_utc=now, kind="per_frame", frame=frame)


def _one_part(clock: _Clock, classifier, archive: ImageArchive, path: Path, i: int) -> None:
    card, gate = classifier.card, classifier.gate
    image = clock.time("decode", load_image, path)
    clock.time("serial", SerialResolver(None).resolve, _trigger(image, i))
    image = clock.time("crop", InspectRegion().crop, image)
    clock.time("quality", QualityGate(card.quality_profile).check, image)
    pred = clock.time("predict", classifier.predict, [image])[0]
    prepared = clock.time("preprocess", prepare_batch, [image], card.canvas)
    clock.time("classifier", classifier.score_batch, *prepared)
    if gate is not None:  # as predict runs it: on the classifier's input where the canvas is shared
        clock.time("gate", classifier.anomaly_scores, [image], prepared)
    clock.time("archive_encode", archive.save, f"bench-{i}", image, pred.verdict, pred.heatmap)


def stage_times(classifier, files: list[Path], ok_sample_rate: float = 0.05) -> dict[str, float]:
    """Median milliseconds per part of each step over `files`, one part at a time.

    `preprocess`, `classifier` and `gate` are parts of `predict` (a gate on another canvas than the
    classifier's includes preparing its own input); archive_encode is averaged over all parts (OK
    parts are archived at the sample rate).
    """
    classifier.predict([load_image(files[0])])  # warm-up
    clock = _Clock()
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        archive = ImageArchive(tmp, ok_sample_rate=ok_sample_rate)
        for i, path in enumerate(files):
            _one_part(clock, classifier, archive, path, i)
    out = {s: round(float(np.median(v)), 3) for s, v in clock.ms.items() if v}
    out["archive_encode"] = round(float(np.mean(clock.ms["archive_encode"])), 3)
    return out
