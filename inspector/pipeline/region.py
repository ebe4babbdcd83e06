"""The part of a frame the model inspects: a fixed region of interest, optionally trimmed to the part."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MIN_PART_FRACTION = 0.05  # a trimmed box smaller than this share of the region is not trusted
ROW_COVERAGE = 0.2        # a row/column belongs to the part when this share of it is part pixels


@dataclass(frozen=True)
class InspectRegion:
    """Crop a frame to the fixture's region (fractions of the frame), then, when asked, to the part.

    Trimming separates the part from a contrasting (dark) belt with Otsu's threshold, as a
    backlit or dark-belt station would; when the split is unconvincing the region is kept whole.
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
        return _trim_to_part(region) if self.trim else region


def _trim_to_part(region: np.ndarray) -> np.ndarray:
    gray = region if region.ndim == 2 else cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    _, part = cv2.threshold(cv2.GaussianBlur(gray, (5, 5), 0), 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    rows = np.flatnonzero(part.mean(axis=1) >= ROW_COVERAGE)
    cols = np.flatnonzero(part.mean(axis=0) >= ROW_COVERAGE)
    if len(rows) == 0 or len(cols) == 0:
        return region
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    if (bottom - top) * (right - left) < MIN_PART_FRACTION * gray.size:
        return region
    return region[top:bottom, left:right]
