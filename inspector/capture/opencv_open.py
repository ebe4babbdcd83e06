"""Opening cv2.VideoCapture for USB devices, streams and files: the only place that builds one."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2

from inspector.capture.config import UsbSourceConfig
from inspector.errors import SourceError

logger = logging.getLogger(__name__)


def _backend(api: str) -> int:
    if api == "auto":
        return cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    return {"v4l2": cv2.CAP_V4L2, "dshow": cv2.CAP_DSHOW, "msmf": cv2.CAP_MSMF}.get(
        api, cv2.CAP_ANY
    )


def _set(cap: cv2.VideoCapture, prop: int, value: float, what: str) -> None:
    if not cap.set(prop, value):
        logger.warning("camera driver refused %s=%s; keeping its default", what, value)


def open_usb_capture(cfg: UsbSourceConfig) -> cv2.VideoCapture:
    """Open a USB camera and apply fourcc, then resolution, fps, buffer size, exposure, gain."""
    cap = cv2.VideoCapture(cfg.device, _backend(cfg.api))
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open camera {cfg.device!r} (unplugged, busy or wrong path?)")
    # V4L2 offers resolutions per pixel format, so the format must be chosen first.
    if cfg.fourcc:
        _set(cap, cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*cfg.fourcc), "fourcc")
    if cfg.width and cfg.height:
        _set(cap, cv2.CAP_PROP_FRAME_WIDTH, cfg.width, "width")
        _set(cap, cv2.CAP_PROP_FRAME_HEIGHT, cfg.height, "height")
    if cfg.fps:
        _set(cap, cv2.CAP_PROP_FPS, cfg.fps, "fps")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # fewer queued frames; not every driver supports it
    if cfg.exposure is not None:
        cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, 1)  # V4L2 "manual mode" is 1
        _set(cap, cv2.CAP_PROP_EXPOSURE, cfg.exposure, "exposure")
    if cfg.gain is not None:
        _set(cap, cv2.CAP_PROP_GAIN, cfg.gain, "gain")
    return cap


def open_url_capture(url: str, shown_as: str) -> cv2.VideoCapture:
    """Open a network stream (FFmpeg backend); `shown_as` is the URL without credentials."""
    cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open stream {shown_as}")
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


def open_file_capture(path: Path) -> cv2.VideoCapture:
    """Open a video file; raises SourceError when it is missing or cannot be decoded."""
    if not Path(path).is_file():
        raise SourceError(f"video file {path} does not exist")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot decode video file {path}")
    return cap
