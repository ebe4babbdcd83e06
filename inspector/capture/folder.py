"""Image folder source: sorted images, one frame (one part) each, serials from a manifest CSV."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import cv2
import numpy as np

from inspector.capture.base import FrameStamper, SourceHealth, finite_health
from inspector.capture.config import FolderSourceConfig
from inspector.domain import Frame
from inspector.errors import EndOfSource, SourceError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})


def load_image(path: Path) -> np.ndarray | None:
    """Decode an image as uint8 gray or BGR; None when the file is unreadable or corrupt."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # fromfile+imdecode: non-ASCII paths work too
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        return None
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        return None
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    return image


def read_manifest(path: Path) -> dict[str, str]:
    """Parse a CSV with header `image,serial` into {file name: serial}; SourceError if malformed."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"manifest {path}: cannot read ({exc})") from exc
    if not rows or "image" not in header or "serial" not in header:
        raise SourceError(f"manifest {path}: need a header `image,serial` and at least one row")
    serials: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        name, serial = (row.get("image") or "").strip(), (row.get("serial") or "").strip()
        if not name or not serial:
            raise SourceError(f"manifest {path} line {line}: empty image or serial")
        name = Path(name).name
        if serials.get(name, serial) != serial:
            raise SourceError(f"manifest {path} line {line}: {name} listed with two serials")
        serials[name] = serial
    return serials


class FolderSource:
    """Replays a folder of images in sorted order; corrupt images are logged, counted, skipped."""

    is_live = False

    def __init__(self, cfg: FolderSourceConfig) -> None:
        self.config = cfg
        self.source_id = cfg.source_id()
        self._stamper = FrameStamper(self.source_id)
        self._files: list[Path] = []
        self._serials: dict[str, str] = {}
        self._next = 0
        self._opened = False
        self._ended = False
        self._skipped = 0
        self._last_error: str | None = None

    @property
    def files(self) -> list[Path]:
        """The images this source presents, in order."""
        return list(self._files)

    def open(self) -> None:
        folder = self.config.path
        if not folder.is_dir():
            raise SourceError(f"image folder {folder} does not exist or is not a folder")
        self._files = sorted(
            p for p in folder.glob(self.config.pattern)
            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self._files:
            raise SourceError(
                f"image folder {folder} has no images matching {self.config.pattern!r} "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._serials = self._load_manifest()
        self._next, self._opened, self._ended = 0, True, False

    def read(self, timeout: float) -> Frame | None:
        """The next readable image; never waits (timeout unused), EndOfSource after the last."""
        if not self._opened:
            raise SourceError(f"{self.source_id}: read() on a source that is not open")
        tried = 0
        while tried < len(self._files):
            if self._next >= len(self._files):
                if not self.config.loop:
                    self._ended = True
                    raise EndOfSource(f"{self.source_id}: all {len(self._files)} images read")
                self._next = 0
            path = self._files[self._next]
            self._next += 1
            tried += 1
            image = load_image(path)
            if image is not None:
                return self._stamper.stamp(
                    image, name=path.name, serial_hint=self._serials.get(path.name)
                )
            self._skip(path)
        self._ended = True
        raise EndOfSource(f"{self.source_id}: no readable image left in {self.config.path}")

    def close(self) -> None:
        self._opened = False

    def health(self) -> SourceHealth:
        return finite_health(
            self._stamper,
            opened=self._opened,
            ended=self._ended,
            skipped=self._skipped,
            last_error=self._last_error,
        )

    def _skip(self, path: Path) -> None:
        self._skipped += 1
        self._last_error = f"unreadable image {path.name}"
        logger.warning("%s: skipping unreadable or corrupt image %s", self.source_id, path)

    def _load_manifest(self) -> dict[str, str]:
        manifest = self.config.manifest
        if manifest is None:
            return {}
        if not manifest.is_file() and not manifest.is_absolute():
            manifest = self.config.path / manifest
        if not manifest.is_file():
            raise SourceError(f"manifest {self.config.manifest} does not exist")
        serials = read_manifest(manifest)
        names = {p.name for p in self._files}
        missing = [n for n in serials if n not in names]
        if missing:
            logger.warning("%s: %d manifest rows name no image in the folder (e.g. %s)",
                           self.source_id, len(missing), missing[0])
        unlisted = len(names - serials.keys())
        if unlisted:
            logger.warning("%s: %d images have no serial in the manifest", self.source_id, unlisted)
        return serials
