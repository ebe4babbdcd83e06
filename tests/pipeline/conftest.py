"""Fixtures for pipeline tests: a station builder over fakes and a folder of synthetic images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.pipeline.station import Station, StationParts, StationSettings
from inspector.pipeline.triggers import PerFramePolicy
from inspector.storage.journal import Journal

from .fakes import FakeClassifier, FakeStore, textured

FAST = {"flush_interval_s": 0.02, "status_interval_s": 0.05, "retry_interval_s": 0.05}


@pytest.fixture
def make_station(tmp_path: Path) -> Callable[..., Station]:
    """Station over the given source with fakes for everything not passed in."""

    def make(source, classifier=None, *, store=None, settings=None, **parts) -> Station:
        parts.setdefault("trigger", PerFramePolicy())
        built = StationParts(
            source=source,
            classifier=classifier if classifier is not None else FakeClassifier(),
            journal=parts.pop("journal", Journal(tmp_path / "journal.jsonl")),
            store=store if store is not None else FakeStore(),
            **parts,
        )
        return Station(built, StationSettings(**{**FAST, **(settings or {})}))

    return make


@pytest.fixture
def image_folder(tmp_path: Path) -> Callable[[int], Path]:
    """A folder of n small PNGs part-0000.png ...; odd ones are bright (fake NG)."""

    def make(n: int, name: str = "images") -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for i in range(n):
            value = 200 if i % 2 else 40
            img = textured(np.full((32, 32), value, np.uint8))
            img[i % 32, :] = 255 - value  # every image differs
            cv2.imwrite(str(folder / f"part-{i:04d}.png"), img)
        return folder

    return make
