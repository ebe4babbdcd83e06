"""USB camera source: an OpenCvCamera opened by index or /dev/v4l/by-id path (V4L2 on Linux)."""

from __future__ import annotations

from functools import partial

from inspector.capture.config import UsbSourceConfig
from inspector.capture.opencv_camera import (
    CameraPolicy,
    CaptureFactory,
    OpenCvCamera,
)
from inspector.capture.opencv_open import open_usb_capture


class UsbCamera(OpenCvCamera):
    """A USB camera; `capture_factory` replaces the driver in tests."""

    def __init__(self, cfg: UsbSourceConfig, capture_factory: CaptureFactory | None = None) -> None:
        policy = CameraPolicy(
            reconnect_initial_s=cfg.reconnect_initial_s,
            reconnect_max_s=cfg.reconnect_max_s,
            stale_after_frames=cfg.stale_after_frames,
            fps=cfg.fps,
        )
        super().__init__(cfg.source_id(), capture_factory or partial(open_usb_capture, cfg), policy)
        self.config = cfg
