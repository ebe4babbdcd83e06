"""Good-only training data: one-class datasets, good rows only, a synthetic val set, the threshold."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from inspector.datasets import DatasetIndex, Sample, list_classes, pick_good_classes, scan_dataset
from inspector.errors import DatasetError
from training.data import CachedSplit
from training.synthetic_defects import synthesize

ANOMALY = "anomaly"


def scan_good_only(root: Path, split_csv: Path | None, seed: int) -> DatasetIndex:
    """Like scan_dataset, but a dataset of one (good) class is fine here."""
    classes = list_classes(Path(root))  # clear errors for a missing folder, no class, empty class
    if len(classes) > 1:
        return scan_dataset(root, split_csv, seed=seed)
    # Good images only: no defects to test on, so no test split is held out.
    return scan_dataset(root, split_csv, seed=seed, test_fraction=0.0, min_classes=1)


def good_classes_of(index: DatasetIndex, requested: list[str] | None) -> list[str]:
    """A one-class dataset's class is the good one; otherwise the usual detection."""
    if len(index.classes) == 1 and not requested:
        return list(index.classes)
    return pick_good_classes(index.classes, requested)


def good_rows(index: DatasetIndex, split: str, good: list[str]) -> list[Sample]:
    """The good rows of a split, all under the first good class's name; none is a DatasetError."""
    rows = [dataclasses.replace(s, label=good[0]) for s in index.split(split) if s.label in good]
    if not rows:
        raise DatasetError(f"{index.root}: the {split} split has no good images "
                           f"({', '.join(good)}): a good-only gate needs them")
    return rows


def synthetic_val(val: CachedSplit, seed: int, anomaly_index: int = 1) -> CachedSplit:
    """Each val good image plus one synthetic-defect copy: checkpoint selection without real defects."""
    rng = np.random.default_rng(seed + 7919)
    out = CachedSplit()
    for img, label, sample in zip(val.images, val.labels, val.samples, strict=True):
        out.images.append(img)
        out.labels.append(label)
        out.samples.append(sample)
        for _ in range(5):  # a defect can come out empty (rare): draw again
            altered, mask = synthesize(img, rng)
            if mask.any():
                out.images.append(altered)
                out.labels.append(anomaly_index)
                out.samples.append(sample)
                break
    out.masks = [None] * len(out.images)
    return out
