"""The part of a frame the model inspects: a fixed region of interest, optionally trimmed to the part."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_PART_FRACTION = 0.05  # a trimmed box smaller than this share of the region is not trusted
ROW_COVERAGE = 0.2        # a row/column belongs to the part when this share of it is part pixels
BAND_PX = 8               # the belt is sampled in a band this wide around the region
MIN_BAND_PIXELS = 64      # fewer belt pixels than this (region at the frame's edges): Otsu
BELT_SIGMAS = 4.0         # a part pixel is this many robust deviations above the belt ...
BELT_MIN_DELTA = 3.0      # ... and at least this many grey levels


@dataclass(frozen=True)
class InspectRegion:
    """Crop a frame to the fixture's region (fractions of the frame), then, when asked, to the part.

    Trimming separates the part from a contrasting dark belt, as a dark-belt station would. The
    belt's level is measured in a band just outside the region, so a part pixel is anything
    clearly brighter than the belt, however dark (a part's dark rim holds defects too); with no
    belt in view the split is Otsu's. When the split is unconvincing the region is kept whole.
    """

    x: float = 0.0
    y: float = 0.0
    w: float = 1.0
    h: float = 1.0
    trim: bool = False

    @property
    def is_whole_frame(self) -> bool:
        return (self.x, self.y, self.w, self.h) == (0.0, 0.0, 1.0, 1.0) and not self.trim

    def crop(self, image: np.ndarray) -> np.ndarray:
        if self.is_whole_frame:
            return image
        height, width = image.shape[:2]
        x0, y0 = round(self.x * width), round(self.y * height)
        x1 = max(x0 + 1, round((self.x + self.w) * width))
        y1 = max(y0 + 1, round((self.y + self.h) * height))
        region = image[y0:y1, x0:x1]
        if not self.trim:
            return region
        return _trim_to_part(region, belt_threshold(image, (x0, y0, x1, y1)))


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def belt_threshold(image: np.ndarray, box: tuple[int, int, int, int]) -> float | None:
    """Grey level above which a pixel is part, from the belt in a band around box (x0, y0, x1, y1).

    None when the band holds too few pixels (the region reaches the frame's edges).
    """
    x0, y0, x1, y1 = box
    height, width = image.shape[:2]
    bx0, by0 = max(0, x0 - BAND_PX), max(0, y0 - BAND_PX)
    bx1, by1 = min(width, x1 + BAND_PX), min(height, y1 + BAND_PX)
    window = cv2.GaussianBlur(_gray(image[by0:by1, bx0:bx1]), (5, 5), 0).astype(np.float32)
    outside = np.ones(window.shape, dtype=bool)
    outside[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0] = False
    band = window[outside]
    if band.size < MIN_BAND_PIXELS:
        return None
    level = float(np.median(band))
    spread = 1.4826 * float(np.median(np.abs(band - level)))
    return level + max(BELT_MIN_DELTA, BELT_SIGMAS * spread)


def _trim_to_part(region: np.ndarray, threshold: float | None = None) -> np.ndarray:
    gray = _gray(region)
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    if threshold is None:
        _, part = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    else:
        # Blurred: sensor noise on the belt is no part; raw too: nor is the glow the blur
        # spreads from the part's bright edge onto the belt beside it.
        part = ((blurred > threshold) & (gray > threshold)).astype(np.uint8)
    box = _part_box(part)
    if box is None:
        return region
    top, bottom, left, right = box
    if (bottom - top) * (right - left) < MIN_PART_FRACTION * part.size:
        return region
    return region[top:bottom, left:right]


def _part_box(part: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the rows and columns the part covers, or None.

    Columns are first found relative to the best-covered one (a flat part in a tall region
    covers little of any column), then rows and columns are measured within the part's extent
    along the other axis, so a narrow or flat part counts as fully as one filling the region.
    """
    top, bottom = 0, part.shape[0]
    for relative in (True, False):
        cols = _covered(part[top:bottom].mean(axis=0), relative)
        rows = _covered(part[:, cols[0] : cols[1]].mean(axis=1)) if cols else None
        if cols is None or rows is None:
            return None
        top, bottom = rows
    return top, bottom, cols[0], cols[1]


def _covered(coverage: np.ndarray, relative: bool = False) -> tuple[int, int] | None:
    """First and one-past-last index whose coverage reaches ROW_COVERAGE (of the best), or None."""
    bar = ROW_COVERAGE * (float(coverage.max()) if relative else 1.0)
    idx = np.flatnonzero(coverage >= max(bar, 1e-9))
    return (int(idx[0]), int(idx[-1]) + 1) if len(idx) else None
