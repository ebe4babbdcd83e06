"""Generated history for the dashboard tests: parts with archived images, heatmaps, upstream events."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.storage.archive import ImageArchive
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.store import InspectionStore
from tests.faults.inputs import SAMPLE

DEFECTS = ("blowhole", "break", "crack", "fray", "uneven")
GOOD = "free"


@dataclass(frozen=True)
class History:
    serials: list[str]
    review_parts: list[str]   # REVIEW parts, oldest first (the head of the review queue)
    traced_serial: str        # a serial with upstream events and an archived image + heatmap
    traced_part: str


def _image(label: str, rng: random.Random) -> np.ndarray:
    files = sorted((SAMPLE / "images" / label).glob("*.jpg"))
    return cv2.imread(str(rng.choice(files)))


def _heat(image: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    return np.exp(-(((yy - cy) / (0.15 * h)) ** 2 + ((xx - cx) / (0.15 * w)) ** 2)).astype(np.float32)


def _part(i: int, at: datetime, station: str, rng: random.Random) -> Inspection:
    hot = i % 5 == 0                      # a hot kiln run: cracks are likelier
    label = rng.choice(DEFECTS) if rng.random() < (0.45 if hot else 0.12) else GOOD
    if hot and label != GOOD:
        label = "crack"
    score = rng.uniform(0.82, 0.99) if label != GOOD else rng.uniform(0.01, 0.2)
    if label != GOOD and rng.random() < 0.4:
        score = rng.uniform(0.5, 0.79)
    verdict = Verdict.OK if score < 0.5 else Verdict.REVIEW if score < 0.8 else Verdict.NG
    scores = {c: round((1 - score) / 5, 4) for c in (*DEFECTS, GOOD)}
    scores[label] = round(score if label != GOOD else 1 - score, 4)
    source = SerialSource.NO_READ if rng.random() < 0.03 else SerialSource.CODE
    return Inspection(
        part_id=f"hist-{i:04d}", station_id=station, serial=f"HX-{i:05d}", serial_source=source,
        captured_at=at, inspected_at=at, status=Status.OK, verdict=verdict, label=label,
        defect_score=round(score if label != GOOD else 1 - scores[GOOD], 4), scores=scores,
        model_version="magnetic-tile@history", threshold_ng=0.8, threshold_review=0.5,
        latency_ms=round(rng.uniform(20, 60), 1))


def _events(row: Inspection, i: int) -> list[ProcessEvent]:
    t = row.inspected_at
    hot = i % 5 == 0
    return [
        ProcessEvent(row.serial, "press-1", "press", t - timedelta(minutes=40),
                     {"force_kn": 118.0 + (i % 7), "die": f"D{i % 3}"}),
        ProcessEvent(row.serial, "kiln-2", "firing", t - timedelta(minutes=20),
                     {"temperature": 905.0 if hot else 850.0 + (i % 10), "lot": f"L{i // 40}"}),
    ]


def write_history(store: InspectionStore, images: Path, station: str, parts: int = 240,
                  hours: float = 10.0, seed: int = 7) -> History:
    """`parts` parts spread over the last `hours`, REVIEW/NG (and every 10th OK) with images."""
    rng = random.Random(seed)
    archive, ok_archive = ImageArchive(images, ok_sample_rate=0.0), ImageArchive(images, 1.0)
    now = datetime.now(UTC)
    rows, events = [], []
    for i in range(parts):
        at = now - timedelta(hours=hours) + timedelta(hours=hours) * (i + 0.5) / parts
        row = _part(i, at, station, rng)
        if row.verdict is not Verdict.OK or i % 10 == 0:
            image = _image(row.label or GOOD, rng)
            keeper = archive if row.verdict is not Verdict.OK else ok_archive
            saved = keeper.save(row.part_id, image, row.verdict, _heat(image, rng), when=at)
            row = replace(row, image_path=saved.image_path, heatmap_path=saved.heatmap_path)
        rows.append(row)
        events += _events(row, i)
    store.write(rows)
    EventStore(store.engine).insert(events)
    traced = next(r for r in rows if r.verdict is Verdict.NG and r.heatmap_path)
    review = [r.part_id for r in rows if r.verdict is Verdict.REVIEW]
    return History([r.serial for r in rows], review, traced.serial, traced.part_id)
