"""Video file source: every frame as fast as possible, or paced at its frame rate like a camera."""

from __future__ import annotations

import logging
import math
import time

import cv2
import numpy as np

from inspector.capture.base import FrameStamper, SourceHealth, finite_health
from inspector.capture.config import VideoSourceConfig
from inspector.capture.opencv_camera import DEFAULT_FPS
from inspector.capture.opencv_open import open_file_capture
from inspector.domain import Frame
from inspector.errors import EndOfSource, SourceError

logger = logging.getLogger(__name__)


class VideoFileSource:
    """Reads a video file; paced mode is live (frames are skipped when the reader lags)."""

    def __init__(self, cfg: VideoSourceConfig) -> None:
        self.config = cfg
        self.source_id = cfg.source_id()
        self.is_live = cfg.paced
        self._stamper = FrameStamper(self.source_id)
        self._cap: cv2.VideoCapture | None = None
        self._fps = cfg.fps or DEFAULT_FPS
        self._pos = 0        # index of the next frame within the file
        self._delivered = 0  # frames handed out or skipped since open (the pacing clock)
        self._t0: float | None = None
        self._ended = False
        self._superseded = 0

    @property
    def fps(self) -> float:
        """The rate used for pacing: the configured one, else the file's, else 30."""
        return self._fps

    def open(self) -> None:
        self.close()
        self._cap = open_file_capture(self.config.path)
        native = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if self.config.fps:
            self._fps = self.config.fps
        elif 1.0 <= native <= 1000.0:
            self._fps = native
        elif self.config.paced:
            logger.warning("%s: file reports no frame rate; pacing at %.0f fps",
                           self.source_id, DEFAULT_FPS)
        self._pos, self._delivered, self._t0, self._ended = 0, 0, None, False

    def read(self, timeout: float) -> Frame | None:
        if self._ended:
            raise EndOfSource(f"{self.source_id}: end of video")
        if self._cap is None:
            raise SourceError(f"{self.source_id}: read() on a source that is not open")
        if self.config.paced and not self._wait_until_due(timeout):
            return None
        image, pos = self._next_image()
        self._delivered += 1
        return self._stamper.stamp(image, name=f"{self.config.path.name}#{pos:06d}")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def health(self) -> SourceHealth:
        return finite_health(
            self._stamper,
            opened=self._cap is not None,
            ended=self._ended,
            superseded=self._superseded,
        )

    def _wait_until_due(self, timeout: float) -> bool:
        """Sleep until the next frame is due (at most timeout); skip frames we are late for."""
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._delivered / self._fps
        if due > now:
            time.sleep(min(due - now, max(0.0, timeout)))
            if time.monotonic() < due:
                return False
        # A camera does not wait for a slow reader: frames that were due meanwhile are gone.
        late = math.floor((time.monotonic() - self._t0) * self._fps) - self._delivered
        for _ in range(max(0, late)):
            self._skip_one()
        return True

    def _skip_one(self) -> None:
        assert self._cap is not None
        if not self._cap.grab():
            if not self._rewind():
                return
            self._cap.grab()
        self._pos += 1
        self._delivered += 1
        self._superseded += 1

    def _next_image(self) -> tuple[np.ndarray, int]:
        assert self._cap is not None
        ok, image = self._cap.read()
        if not ok or image is None:
            if not self._rewind():
                raise EndOfSource(f"{self.source_id}: end of video after {self._pos} frames")
            ok, image = self._cap.read()
            if not ok or image is None:
                self._ended = True
                raise SourceError(f"{self.source_id}: no decodable frame in {self.config.path}")
        pos = self._pos
        self._pos += 1
        return image, pos

    def _rewind(self) -> bool:
        """At the end of the file: reopen it when looping, else mark the source ended."""
        if not self.config.loop or self._pos == 0:
            self._ended = True
            return False
        assert self._cap is not None
        self._cap.release()
        self._cap = open_file_capture(self.config.path)
        self._pos = 0
        return True
