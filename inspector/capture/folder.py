"""Image folder source: sorted images, one frame (one part) each, serials from a manifest CSV."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from inspector.capture.base import FrameStamper, SourceHealth, finite_health
from inspector.capture.config import FolderSourceConfig
from inspector.domain import Frame
from inspector.errors import EndOfSource, SourceError
from inspector.model.decode import BadImage, DecodeLimits, decode_file

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
NO_PIXELS = np.zeros((0, 0), dtype=np.uint8)  # the image of an input that could not be decoded


def load_image(path: Path, limits: DecodeLimits | None = None) -> np.ndarray | None:
    """Decode an image as uint8 gray or BGR; None when the file is unreadable, corrupt or oversize."""
    try:
        return decode_file(path, limits)
    except BadImage:
        return None


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
    """Replays a folder of images in sorted order, one part per file.

    A file that cannot be decoded (empty, truncated, not an image, over the size limits) is
    still a part: its frame carries the reason in `problem` and an empty image, so the station
    records it as `bad_image` instead of losing it. Files whose `ref` is in `done` (inspected
    by an earlier run, set by the station factory from the store) are passed over, so a restart
    continues where the last run stopped.
    """

    is_live = False

    def __init__(self, cfg: FolderSourceConfig) -> None:
        self.config = cfg
        self.source_id = cfg.source_id()
        self.limits = DecodeLimits(cfg.limits.max_file_mb, cfg.limits.max_pixels)
        self.done: frozenset[str] = frozenset()
        self.resumed = 0  # files passed over because an earlier run recorded them
        self._stamper = FrameStamper(self.source_id)
        self._files: list[Path] = []
        self._serials: dict[str, str] = {}
        self._next = 0
        self._readable_in_pass = 0
        self._opened = False
        self._ended = False
        self._skipped = 0
        self._last_error: str | None = None

    @property
    def files(self) -> list[Path]:
        """The images this source presents, in order."""
        return list(self._files)

    def ref(self, path: Path) -> str:
        """The resume key of one file: the source id and the path inside the folder."""
        return f"{self.source_id}/{path.relative_to(self.config.path).as_posix()}"

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
        self._next, self._opened, self._ended, self._readable_in_pass = 0, True, False, 0
        if self.done:
            logger.info("%s: %d of %d files already inspected by an earlier run, continuing "
                        "after them", self.source_id,
                        sum(self.ref(p) in self.done for p in self._files), len(self._files))

    def read(self, timeout: float) -> Frame | None:
        """The next file as a frame (never waits: timeout unused), EndOfSource after the last."""
        if not self._opened:
            raise SourceError(f"{self.source_id}: read() on a source that is not open")
        while True:
            if self._next >= len(self._files):
                self._end_of_pass()
            path = self._files[self._next]
            self._next += 1
            if not self.config.loop and self.ref(path) in self.done:
                self.resumed += 1
                continue
            return self._frame(path)

    def _end_of_pass(self) -> None:
        """End the source, or start the next pass of a looping one that still has images."""
        if not self.config.loop:
            self._ended = True
            raise EndOfSource(f"{self.source_id}: all {len(self._files)} images read")
        if self._readable_in_pass == 0:
            self._ended = True
            raise EndOfSource(f"{self.source_id}: no readable image left in {self.config.path}")
        self._next, self._readable_in_pass = 0, 0

    def _frame(self, path: Path) -> Frame:
        serial, ref = self._serials.get(path.name), self.ref(path)
        try:
            image = decode_file(path, self.limits)
        except BadImage as exc:
            self._skip(path, str(exc))
            return self._stamper.stamp(NO_PIXELS, name=path.name, serial_hint=serial, ref=ref,
                                       problem=str(exc))
        self._readable_in_pass += 1
        return self._stamper.stamp(image, name=path.name, serial_hint=serial, ref=ref)

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

    def _skip(self, path: Path, reason: str) -> None:
        self._skipped += 1
        self._last_error = reason
        logger.warning("%s: unusable image %s: %s", self.source_id, path, reason)
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
