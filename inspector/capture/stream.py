"""Network camera source: an OpenCvCamera on an RTSP/HTTP URL, with the same reconnect logic."""

from __future__ import annotations

from functools import partial

from inspector.capture.config import StreamSourceConfig
from inspector.capture.opencv_camera import (
    CameraPolicy,
    CaptureFactory,
    OpenCvCamera,
)
from inspector.capture.opencv_open import open_url_capture


class StreamCamera(OpenCvCamera):
    """An RTSP/HTTP camera; `capture_factory` replaces the network in tests."""

    def __init__(
        self, cfg: StreamSourceConfig, capture_factory: CaptureFactory | None = None
    ) -> None:
        policy = CameraPolicy(
            reconnect_initial_s=cfg.reconnect_initial_s,
            reconnect_max_s=cfg.reconnect_max_s,
            stale_after_frames=cfg.stale_after_frames,
            fps=cfg.fps,
        )
        source_id = cfg.source_id()
        factory = capture_factory or partial(open_url_capture, cfg.url, source_id)
        super().__init__(source_id, factory, policy)
        self.config = cfg
