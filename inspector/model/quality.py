"""Image-quality gate: refuses frames a broken camera, lamp or fixture produces, before the model."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.errors import ModelError
from inspector.model.preprocess import to_gray

ANALYSIS_SIDE = 512   # sharpness is measured at most at this long side, so it hardly depends on size
FLAT_STD = 1.0        # a row or column whose grey levels vary less than this is flat
CLIP_LOW, CLIP_HIGH = 2, 253


@dataclass(frozen=True)
class ImageStats:
    """What the gate measures on one image (grey levels 0-255)."""

    min_side: int
    aspect: float      # width / height
    mean: float
    std: float
    clipped: float     # share of pixels at black or white
    sharpness: float   # variance of the Laplacian at the analysis size
    flat: float        # share of rows in a flat band at the bottom beyond any at the top (a torn
                       # transfer or decode damage: the image stops and a fill follows)

    @classmethod
    def of(cls, image: np.ndarray) -> ImageStats:
        # OpenCV's one-pass reductions (sums in double) where numpy made a float64 copy per
        # statistic: 0.59 -> 0.23 ms a sample image, time the model's cores get back.
        gray = to_gray(image)
        h, w = gray.shape
        mean, std = cv2.meanStdDev(gray)
        unclipped = cv2.countNonZero(cv2.inRange(gray, CLIP_LOW + 1, CLIP_HIGH - 1))
        laplacian = cv2.Laplacian(_analysis_image(gray), cv2.CV_32F)
        return cls(
            min_side=int(min(h, w)), aspect=w / h, mean=float(mean[0, 0]), std=float(std[0, 0]),
            clipped=(gray.size - unclipped) / gray.size,
            sharpness=float(cv2.meanStdDev(laplacian)[1][0, 0] ** 2),
            flat=_torn_share(gray),
        )


def _torn_share(gray: np.ndarray) -> float:
    """Share of rows in the flat band ending the image, less the flat band starting it.

    A part on a plain background has flat margins at the top and the bottom alike; a frame whose
    transfer stopped (or whose data was damaged) has a flat fill at the bottom only.
    """
    leading = _flat_rows(gray)               # flat rows before the first textured one
    if leading == len(gray):
        return 1.0
    trailing = _flat_rows(gray[::-1])        # flat rows after the last textured one
    return max(0, trailing - leading) / len(gray)


def _flat_rows(gray: np.ndarray) -> int:
    """How many rows from the top are flat, read in growing chunks (a textured first row, the
    common case, costs one chunk instead of every row's spread)."""
    start, chunk = 0, 8
    while start < len(gray):
        flat = gray[start : start + chunk].std(axis=1) < FLAT_STD
        if not flat.all():
            return start + int(np.argmin(flat))
        start, chunk = start + chunk, chunk * 2
    return len(gray)


def _analysis_image(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    scale = ANALYSIS_SIDE / max(h, w)
    if scale < 1:
        gray = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                          interpolation=cv2.INTER_AREA)
    return gray.astype(np.float32)  # (OpenCV's Laplacian is faster on float than from uint8)


@dataclass(frozen=True)
class QualityProfile:
    """The limits a usable frame stays within (card.quality, learnt from the training images).

    The defaults hold for any bundle: they refuse what no camera image of a part looks like
    (near-uniform, black, white, tiny, a torn bottom half) and nothing else.
    """

    min_side: int = 16
    min_aspect: float = 0.05
    max_aspect: float = 20.0
    min_mean: float = 5.0
    max_mean: float = 250.0
    min_std: float = 2.0
    max_clipped: float = 0.95
    min_sharpness: float = 0.0
    max_flat: float = 0.5
    fitted_on: int = 0   # training images the limits were learnt from (0: the generic defaults)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> QualityProfile:
        if raw is None:
            return cls()
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ModelError(f"card quality has unknown keys {unknown}; known: {sorted(known)}")
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def problem(self, s: ImageStats) -> str | None:
        """Why an image with these stats is unusable, or None when it may be judged."""
        checks = (
            (s.min_side < self.min_side, f"image too small ({s.min_side} px side < {self.min_side})"),
            (not self.min_aspect <= s.aspect <= self.max_aspect,
             f"wrong shape (aspect {s.aspect:.2f} outside {self.min_aspect:.2f}-{self.max_aspect:.2f})"),
            (s.std < self.min_std, f"blank image (grey-level spread {s.std:.1f} < {self.min_std:.1f})"),
            (s.mean < self.min_mean, f"under-exposed (mean grey {s.mean:.0f} < {self.min_mean:.0f})"),
            (s.mean > self.max_mean, f"over-exposed (mean grey {s.mean:.0f} > {self.max_mean:.0f})"),
            (s.clipped > self.max_clipped,
             f"clipped exposure ({s.clipped:.0%} of pixels black or white > {self.max_clipped:.0%})"),
            (s.flat > self.max_flat,
             f"torn or damaged image (a flat band over {s.flat:.0%} of the rows at the bottom "
             f"> {self.max_flat:.0%})"),
            (s.sharpness < self.min_sharpness,
             f"out of focus (sharpness {s.sharpness:.1f} < {self.min_sharpness:.1f})"),
        )
        return next((reason for failed, reason in checks if failed), None)


def fit_profile(images: Iterable[np.ndarray]) -> QualityProfile:
    """Limits with a wide margin around what the training images show.

    Halving the smallest spread/size and doubling the widest clipping keeps every real image of
    the training distribution in (on magnetic-tile: 0 of 1,344 refused) while a lens cap, a dead
    lamp, a saturated sensor or a strongly defocused lens falls far outside.
    """
    stats = [ImageStats.of(img) for img in images]
    if not stats:
        raise ModelError("cannot learn image-quality limits from no images")
    col = {f.name: np.array([getattr(s, f.name) for s in stats]) for f in fields(ImageStats)}
    base = QualityProfile()
    return QualityProfile(
        min_side=max(base.min_side, int(col["min_side"].min() // 2)),
        min_aspect=float(col["aspect"].min() / 2), max_aspect=float(col["aspect"].max() * 2),
        min_mean=max(base.min_mean, float(col["mean"].min() / 2)),
        max_mean=min(base.max_mean, float(255 - (255 - col["mean"].max()) / 2)),
        min_std=max(base.min_std, float(col["std"].min() / 2)),
        max_clipped=float(min(base.max_clipped, max(0.2, 2 * col["clipped"].max()))),
        min_sharpness=float(col["sharpness"].min() / 4),
        max_flat=float(min(base.max_flat, max(0.25, 2 * col["flat"].max()))),
        fitted_on=len(stats),
    )


def fit_profile_from_files(paths: Iterable[str | Path]) -> QualityProfile:
    """fit_profile over image files (training images as the station would decode them)."""
    from inspector.model.preprocess import read_image

    return fit_profile(read_image(p) for p in paths)


class QualityGate:
    """Checks one image against a profile; `check` returns the reason it is unusable, or None."""

    def __init__(self, profile: QualityProfile | None = None) -> None:
        self.profile = profile or QualityProfile()

    def check(self, image: np.ndarray) -> str | None:
        if image is None or image.size == 0:
            return "no pixels"
        if not np.issubdtype(image.dtype, np.number) or (
                image.dtype.kind == "f" and not np.isfinite(image).all()):
            return f"unusable pixel data ({image.dtype})"
        try:
            stats = ImageStats.of(image)
        except (ValueError, cv2.error) as exc:
            return f"unusable image ({exc})"
        if math.isnan(stats.std):
            return "unusable pixel data"
        return self.profile.problem(stats)
