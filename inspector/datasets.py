"""Image-folder datasets: layouts, split.csv, stratified splits and a content hash (no torch)."""

from __future__ import annotations

import csv
import hashlib
import logging
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from inspector.errors import DatasetError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
SPLITS = ("train", "val", "test")
GOOD_CLASS_NAMES = ("free", "good", "ok", "normal", "pass")


@dataclass(frozen=True)
class Sample:
    """One labelled image, with its split and optional pixel mask."""

    path: Path
    label: str
    split: str
    mask: Path | None = None

    def rel(self, root: Path) -> str:
        return self.path.relative_to(root).as_posix()


@dataclass(frozen=True)
class DatasetIndex:
    """The scanned dataset: classes in a fixed order and every sample with its split."""

    root: Path
    classes: list[str]
    samples: list[Sample]
    has_masks: bool

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def counts(self, split: str | None = None) -> dict[str, int]:
        chosen = self.samples if split is None else self.split(split)
        counted = Counter(s.label for s in chosen)
        return {c: counted.get(c, 0) for c in self.classes}


def _image_dir(root: Path) -> Path:
    return root / "images" if (root / "images").is_dir() else root


def _class_dirs(image_dir: Path) -> list[Path]:
    return sorted(p for p in image_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _mask_for(root: Path, image: Path, label: str) -> Path | None:
    mask = root / "masks" / label / (image.stem + ".png")
    return mask if mask.is_file() else None


def list_classes(root: Path) -> dict[str, list[Path]]:
    """Class name -> its image files; a missing folder, no class or an empty class is a DatasetError."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder {root} does not exist")
    image_dir = _image_dir(root)
    classes = {d.name: _images_in(d) for d in _class_dirs(image_dir)}
    if not classes:
        raise DatasetError(f"{root}: no class folders found (expected <class>/<image> or "
                           "images/<class>/<image>)")
    empty = [c for c, files in classes.items() if not files]
    if empty:
        raise DatasetError(f"{root}: class folder(s) with no images: {', '.join(empty)}")
    return classes


def _read_split_csv(root: Path, split_csv: Path, classes: dict[str, list[Path]]) -> list[tuple]:
    rows = []
    try:
        with open(split_csv, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"image", "label", "split"} - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"{split_csv}: missing column(s) {', '.join(sorted(missing))}")
            for lineno, row in enumerate(reader, start=2):
                rows.append(_check_split_row(root, split_csv, lineno, row, classes))
    except OSError as exc:
        raise DatasetError(f"{split_csv}: cannot read ({exc})") from exc
    return rows


def _check_split_row(root: Path, split_csv: Path, lineno: int, row: dict, classes: dict) -> tuple:
    where = f"{split_csv}:{lineno}"
    if row["split"] not in SPLITS:
        raise DatasetError(f"{where}: unknown split {row['split']!r} (expected train, val or test)")
    if row["label"] not in classes:
        raise DatasetError(f"{where}: unknown class {row['label']!r} (classes: {', '.join(classes)})")
    path = root / row["image"]
    if not path.is_file():
        raise DatasetError(f"{where}: image {row['image']} does not exist")
    return path, row["label"], row["split"]


def _stratified_split(classes: dict[str, list[Path]], seed: int, val: float, test: float) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for label, files in sorted(classes.items()):
        files = list(files)
        rng.shuffle(files)
        n_val = max(1, round(len(files) * val)) if len(files) >= 3 else 0
        n_test = max(1, round(len(files) * test)) if len(files) >= 3 and test > 0 else 0
        for i, path in enumerate(files):
            split = "val" if i < n_val else "test" if i < n_val + n_test else "train"
            rows.append((path, label, split))
    return rows


def scan_dataset(root: str | Path, split_csv: str | Path | None = None, seed: int = 0,
                 val_fraction: float = 0.15, test_fraction: float = 0.15,
                 min_classes: int = 2) -> DatasetIndex:
    """Scan a dataset folder; use split.csv when given or present, else a stratified seeded split."""
    root = Path(root)
    classes = list_classes(root)
    if len(classes) < min_classes:
        raise DatasetError(f"{root}: only one class ({next(iter(classes))}); need at least two")
    csv_path = Path(split_csv) if split_csv else root / "split.csv"
    if csv_path.is_file():
        rows = _read_split_csv(root, csv_path, classes)
    elif split_csv:
        raise DatasetError(f"split file {split_csv} does not exist")
    else:
        rows = _stratified_split(classes, seed, val_fraction, test_fraction)
    samples = [Sample(p, label, split, _mask_for(root, p, label)) for p, label, split in rows]
    has_masks = any(s.mask is not None for s in samples if s.label in classes)
    return DatasetIndex(root, sorted(classes), samples, has_masks)


def pick_good_classes(classes: list[str], requested: list[str] | None = None) -> list[str]:
    """The classes that mean 'no defect': as requested, else the conventional names found."""
    if requested:
        unknown = [c for c in requested if c not in classes]
        if unknown:
            raise DatasetError(f"good class(es) {', '.join(unknown)} not among {', '.join(classes)}")
        return list(requested)
    found = [c for c in classes if c.lower() in GOOD_CLASS_NAMES]
    if not found:
        raise DatasetError(f"no good class among {', '.join(classes)}: name one with --good-class "
                           f"(conventional names: {', '.join(GOOD_CLASS_NAMES)})")
    return found


def content_hash(index: DatasetIndex, splits: tuple[str, ...] = ("train", "val")) -> str:
    """SHA-256 over the paths, labels, splits and bytes of the samples in the given splits."""
    digest = hashlib.sha256()
    for s in sorted(index.samples, key=lambda s: s.rel(index.root)):
        if s.split in splits:
            digest.update(f"{s.rel(index.root)}|{s.label}|{s.split}|".encode())
            digest.update(hashlib.sha1(s.path.read_bytes()).digest())
    return digest.hexdigest()
