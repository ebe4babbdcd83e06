"""Presence detection in a region of interest: part enters, settles, is inspected once, leaves."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from inspector.config import PresenceTrigger
from inspector.domain import Frame

logger = logging.getLogger(__name__)

MIN_PRESENT_FRAMES = 2  # a one-frame blip (flash, glare) is not a part
# A reference darker than this (median, 0..1) measures no gain: its grey levels are coarse
# steps (4 -> 5 is 25%), and a gain from them ratchets the learned background down until no
# part stands out of it (a black belt lost every trigger after ~120 parts).
DARK_REFERENCE = 0.05


class State(enum.StrEnum):
    EMPTY = "empty"          # armed: waiting for a part
    PRESENT = "present"      # a part is in the ROI, waiting for it to settle
    INSPECTED = "inspected"  # inspected once; waiting for the ROI to empty to re-arm


@dataclass(frozen=True)
class Observation:
    """What one frame shows in the ROI after brightness normalisation."""

    occupancy: float  # fraction of ROI pixels that differ from the empty background
    motion: float     # mean absolute change in the ROI since the previous frame (0..1)


class PresenceDetector:
    """Background-difference presence detector, robust to global lighting flicker.

    Each frame is downscaled to gray and scaled so its median brightness (outside the ROI
    when there is room, else the whole frame) matches the background's; flicker that
    brightens or darkens the whole scene cancels out. The background follows slow changes
    only while the ROI is empty, so a resting part never fades into it.
    """

    def __init__(self, cfg: PresenceTrigger) -> None:
        self.cfg = cfg
        self.state = State.EMPTY
        self.background: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._ref_mask: np.ndarray | None = None
        self._still = 0
        self._empty = 0
        self._present = 0
        self._best: tuple[float, Frame] | None = None

    def update(self, frame: Frame) -> Frame | None:
        """Feed one frame; returns the frame to inspect when a part has just been decided."""
        small = self._prepare(frame.image)
        if self.background is None:
            self.background = small
            self._prev = small
            return None
        obs = self._observe(small)
        self._prev = small
        occupied = obs.occupancy >= self.cfg.min_area
        if self.state is State.EMPTY:
            return self._on_empty(small, frame, obs, occupied)
        if self.state is State.PRESENT:
            return self._on_present(frame, obs, occupied)
        self._on_inspected(occupied)
        return None

    # ---- state steps -----------------------------------------------------------------------

    def _on_empty(
        self, small: np.ndarray, frame: Frame, obs: Observation, occupied: bool
    ) -> Frame | None:
        if not occupied:
            self._learn(small)
            return None
        self.state, self._still, self._empty, self._present = State.PRESENT, 0, 0, 1
        self._best = (obs.occupancy, frame)
        return None

    def _on_present(self, frame: Frame, obs: Observation, occupied: bool) -> Frame | None:
        if not occupied:
            self._empty += 1
            if self._empty >= self.cfg.clear_frames:
                return self._left_unsettled()
            return None
        self._empty = 0
        self._present += 1
        if self._best is None or obs.occupancy >= self._best[0]:
            self._best = (obs.occupancy, frame)
        self._still = self._still + 1 if obs.motion < self.cfg.settle_threshold else 0
        if self._still >= self.cfg.settle_frames:
            return self._inspect(frame)
        if self._present >= self.cfg.max_settle_frames:
            logger.info("presence: part did not settle in %d frames; using its best frame",
                        self._present)
            return self._inspect(self._best[1])
        return None

    def _on_inspected(self, occupied: bool) -> None:
        self._empty = 0 if occupied else self._empty + 1
        if self._empty >= self.cfg.clear_frames:
            self.state, self._empty = State.EMPTY, 0

    def _inspect(self, frame: Frame) -> Frame:
        self.state, self._empty, self._best = State.INSPECTED, 0, None
        return frame

    def _left_unsettled(self) -> Frame | None:
        """The part left before settling: inspect its best frame, unless it was a blip."""
        best, present = self._best, self._present
        self.state, self._empty, self._best = State.EMPTY, 0, None
        if best is None or present < MIN_PRESENT_FRAMES:
            return None
        logger.info("presence: part passed without settling; using its best frame")
        return best[1]

    # ---- image analysis ----------------------------------------------------------------------

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape[:2]
        width = min(self.cfg.analysis_width, w)
        height = max(1, round(h * width / w))
        small = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
        # A light blur removes sensor noise that would otherwise read as motion.
        small = cv2.GaussianBlur(small, (3, 3), 0)
        if self._mask is None or self._mask.shape != small.shape:
            # New frame size (camera reconfigured): start over with a fresh background.
            self._build_masks(small.shape)
            self.background, self._prev, self.state = None, None, State.EMPTY
        return small.astype(np.float32) / 255.0

    def _build_masks(self, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        roi = self.cfg.roi
        x0, y0 = int(roi.x * w), int(roi.y * h)
        x1 = max(x0 + 1, min(w, round((roi.x + roi.w) * w)))
        y1 = max(y0 + 1, min(h, round((roi.y + roi.h) * h)))
        mask = np.zeros((h, w), dtype=bool)
        mask[y0:y1, x0:x1] = True
        self._mask = mask
        # Brightness is measured outside the ROI when that leaves a quarter of the frame.
        self._ref_mask = ~mask if (~mask).mean() >= 0.25 else np.ones_like(mask)

    def _gain(self, small: np.ndarray, reference: np.ndarray) -> float:
        num = float(np.median(small[self._ref_mask]))
        den = float(np.median(reference[self._ref_mask]))
        if num < DARK_REFERENCE or den < DARK_REFERENCE:
            return 1.0
        return den / num

    def _observe(self, small: np.ndarray) -> Observation:
        assert self.background is not None and self._prev is not None
        roi = self._mask
        cur = small[roi] * self._gain(small, self.background)
        diff = np.abs(cur - self.background[roi])
        prev = self._prev[roi] * self._gain(self._prev, self.background)
        return Observation(
            occupancy=float((diff > self.cfg.threshold).mean()),
            motion=float(np.abs(cur - prev).mean()),
        )

    def _learn(self, small: np.ndarray) -> None:
        assert self.background is not None
        normalised = small * self._gain(small, self.background)
        cv2.accumulateWeighted(normalised, self.background, self.cfg.background_alpha)
