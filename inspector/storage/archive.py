"""ImageArchive: NG/REVIEW frames and sampled OK frames on disk, with retention by size and age."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from inspector.domain import Verdict
from inspector.errors import StoreError

logger = logging.getLogger(__name__)

IMAGE_SUFFIX = ".jpg"
# JPEG like the frame it overlays (lossless was pointless over a JPEG frame): on the magnetic-tile
# sample 1.2 ms a part and 23 KB, where Huffman-only PNG took 4.7 ms and 172 KB. Archives
# written before keep their _heatmap.png files; rows name each file.
HEATMAP_TAG = "_heatmap"
HEATMAP_SUFFIX = HEATMAP_TAG + IMAGE_SUFFIX
HEATMAP_ALPHA = 0.45   # weight of the colour map over the frame: defect visible, part recognisable
LOW_WATERMARK = 0.9    # when over max_bytes, delete down to this fraction so saves do not thrash
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SavedImages:
    """Where one part's images went, relative to the archive root (None when not saved)."""

    image_path: str | None = None
    heatmap_path: str | None = None


class ImageArchive:
    """Images under `root/YYYY-MM-DD/<verdict>/<part_id>.jpg`, never raising on disk trouble.

    A full, read-only or failing disk must not stop the station: `save` then returns
    `SavedImages(None, None)`, counts `write_failures` and sets `disk_problem`, which the
    station reports while it keeps writing rows. `disk_problem` clears on the next success.
    """

    def __init__(
        self,
        root: Path | str,
        ok_sample_rate: float = 0.02,
        max_bytes: int | None = None,
        max_age_days: float | None = None,
        jpeg_quality: int = 90,
    ) -> None:
        if not 0.0 <= ok_sample_rate <= 1.0:
            raise StoreError(f"ok_sample_rate must be within [0, 1], got {ok_sample_rate}")
        if max_bytes is not None and max_bytes <= 0:
            raise StoreError(f"max_bytes must be positive, got {max_bytes}")
        if max_age_days is not None and max_age_days <= 0:
            raise StoreError(f"max_age_days must be positive, got {max_age_days}")
        if not 0 <= jpeg_quality <= 100:
            raise StoreError(f"jpeg_quality must be within [0, 100], got {jpeg_quality}")
        self.root = Path(root)
        self.ok_sample_rate = ok_sample_rate
        self.max_bytes = max_bytes
        self.max_age_days = max_age_days
        self.jpeg_quality = jpeg_quality
        self.write_failures = 0
        self.disk_problem: str | None = None
        self._lock = threading.Lock()  # guards the byte counter: save and retention may race
        self._total_bytes = _scan_bytes(self.root)

    @property
    def total_bytes(self) -> int:
        """Bytes of image files under root (scanned once at start, then kept up to date)."""
        return self._total_bytes

    def should_keep(self, part_id: str, verdict: Verdict | str) -> bool:
        """NG and REVIEW always; OK when a hash of part_id falls under the sample rate.

        Deterministic, so a replay keeps the same parts and the rate is exact on average.
        """
        if _verdict(verdict) is not Verdict.OK:
            return True
        digest = hashlib.blake2b(part_id.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64 < self.ok_sample_rate

    def save(
        self,
        part_id: str,
        image: np.ndarray,
        verdict: Verdict | str,
        heatmap: np.ndarray | None = None,
        when: datetime | None = None,
    ) -> SavedImages:
        """Save the frame (and heatmap overlay) if the verdict or the OK sample wants it."""
        verdict = _verdict(verdict)
        if not self.should_keep(part_id, verdict):
            return SavedImages()
        when = _utc(when)
        stem = Path(when.strftime("%Y-%m-%d"), verdict.value, _safe_name(part_id))
        jpeg = _encode(image, IMAGE_SUFFIX, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        overlay = None if heatmap is None else self._overlay(image, heatmap)
        image_path = self._store(stem.with_suffix(IMAGE_SUFFIX), jpeg)
        heatmap_path = None
        if image_path is not None and overlay is not None:
            heatmap_path = self._store(stem.with_name(stem.name + HEATMAP_SUFFIX), overlay)
        if self.max_bytes is not None and self._total_bytes > self.max_bytes:
            self.enforce_retention()
        return SavedImages(image_path, heatmap_path)

    def _overlay(self, image: np.ndarray, heatmap: np.ndarray) -> bytes:
        """The heatmap blended over the frame, encoded as the frame is."""
        return _encode(overlay_heatmap(image, heatmap), IMAGE_SUFFIX,
                       [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])

    def enforce_retention(self, now: datetime | None = None) -> int:
        """Delete image files older than max_age_days, then oldest first until under max_bytes.

        Only files: database rows keep their (now dangling) paths. Returns files deleted.
        """
        if self.max_age_days is None and self.max_bytes is None:
            return 0
        cutoff = None
        if self.max_age_days is not None:
            cutoff = _utc(now).timestamp() - self.max_age_days * 86400
        target = None if self.max_bytes is None else int(self.max_bytes * LOW_WATERMARK)
        if self.max_bytes is not None and self._total_bytes <= self.max_bytes:
            target = None  # under quota: only age applies
        deleted = 0
        for day_dir in _day_dirs(self.root):
            deleted_here, done = self._prune_day(day_dir, cutoff, target)
            deleted += deleted_here
            _remove_empty_dirs(day_dir)
            if done:
                break
        if deleted:
            logger.info("retention deleted %d image files; archive now %d bytes",
                        deleted, self._total_bytes)
        return deleted

    # --- steps ---------------------------------------------------------------------------

    def _prune_day(
        self, day_dir: Path, cutoff: float | None, target: int | None
    ) -> tuple[int, bool]:
        """Delete what must go from one day folder; done=True when nothing later must go."""
        deleted = 0
        for mtime, size, path in _files_oldest_first(day_dir):
            too_old = cutoff is not None and mtime < cutoff
            too_big = target is not None and self._total_bytes > target
            if not (too_old or too_big):
                return deleted, True  # later files are newer and the archive is small enough
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("retention cannot delete %s: %s", path, exc)
                continue
            deleted += 1
            with self._lock:
                self._total_bytes -= size
        return deleted, False

    def _store(self, rel_path: Path, data: bytes) -> str | None:
        path = self.root / rel_path
        try:
            self._write_bytes(path, data)
        except OSError as exc:
            self._report_failure(path, exc)
            return None
        with self._lock:
            self._total_bytes += len(data)
        if self.disk_problem is not None:
            logger.warning("image archive %s writable again", self.root)
            self.disk_problem = None
        return rel_path.as_posix()

    def _write_bytes(self, path: Path, data: bytes) -> None:
        """Write via a temporary name, so a crash never leaves a half image under the real name."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise

    def _report_failure(self, path: Path, exc: OSError) -> None:
        self.write_failures += 1
        message = f"cannot write images under {self.root}: {exc.strerror or exc}"
        if self.disk_problem is None:  # log the transition, not every frame
            logger.error("%s (%s); rows are still stored without images", message, path)
        self.disk_problem = message


def overlay_heatmap(image: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    """Blend a float HxW heatmap in [0, 1] (any size) over the image as a JET colour map."""
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2 or heat.size == 0:
        raise StoreError(f"heatmap must be a non-empty HxW array, got shape {heat.shape}")
    base = _as_bgr(image)
    heat = cv2.resize(heat, (base.shape[1], base.shape[0]), interpolation=cv2.INTER_LINEAR)
    heat = np.nan_to_num(np.clip(heat, 0.0, 1.0))
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.addWeighted(colour, HEATMAP_ALPHA, base, 1.0 - HEATMAP_ALPHA, 0.0)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    _check_image(image)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _check_image(image: np.ndarray) -> None:
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.size > 0
    if ok and not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        ok = False
    if not ok:
        raise StoreError(
            f"image must be a uint8 HxW or HxWxC (C in 1, 3, 4) array, got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )


def _encode(image: np.ndarray, suffix: str, params: list[int] | None = None) -> bytes:
    _check_image(image)
    ok, buf = cv2.imencode(suffix, image, params or [])
    if not ok:
        raise StoreError(f"OpenCV could not encode a {image.shape} image as {suffix}")
    return buf.tobytes()


def _verdict(value: Verdict | str) -> Verdict:
    try:
        return Verdict(value)
    except ValueError as exc:
        raise StoreError(f"verdict must be one of OK, REVIEW, NG, got {value!r}") from exc


def _safe_name(part_id: str) -> str:
    """A file name for part_id; unsafe characters are replaced and a hash keeps it unique."""
    if not part_id:
        raise StoreError("part_id must be non-empty to archive an image")
    safe = _SAFE_NAME.sub("_", part_id)
    # A part named like another's heatmap ("A_heatmap": frame and overlay are both .jpg) is renamed.
    if safe != part_id or safe.startswith(".") or safe.endswith(HEATMAP_TAG):
        safe = f"{safe}-{hashlib.blake2b(part_id.encode(), digest_size=4).hexdigest()}"
    return safe


def _utc(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise StoreError(f"archive time must be timezone-aware, got {when!r}")
    return when.astimezone(UTC)


def _scan_bytes(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue  # deleted meanwhile
    return total


def _day_dirs(root: Path) -> list[Path]:
    """Date folders, oldest first (ISO dates sort as text)."""
    try:
        entries = [p for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    return sorted(entries, key=lambda p: p.name)


def _files_oldest_first(day_dir: Path) -> list[tuple[float, int, Path]]:
    files = []
    for dirpath, _dirs, names in os.walk(day_dir):
        for name in names:
            path = Path(dirpath, name)
            try:
                st = path.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, path))
    files.sort()
    return files


def _remove_empty_dirs(day_dir: Path) -> None:
    for dirpath, _dirs, _files in sorted(os.walk(day_dir), key=lambda e: -len(e[0])):
        with contextlib.suppress(OSError):  # fails harmlessly unless empty
            os.rmdir(dirpath)

