"""The explicit registry of frame sources, keyed by the config's `type`."""

from __future__ import annotations

from collections.abc import Callable

from inspector.capture.base import FrameSource
from inspector.capture.config import SourceConfig
from inspector.capture.folder import FolderSource
from inspector.capture.simulated import SimulatedLine
from inspector.capture.stream import StreamCamera
from inspector.capture.usb import UsbCamera
from inspector.capture.video import VideoFileSource
from inspector.errors import ConfigError

SOURCES: dict[str, Callable[..., FrameSource]] = {
    "usb": UsbCamera,
    "stream": StreamCamera,
    "video": VideoFileSource,
    "folder": FolderSource,
    "simulated": SimulatedLine,
}


def build_source(cfg: SourceConfig) -> FrameSource:
    """Construct (not open) the source a config describes."""
    try:
        factory = SOURCES[cfg.type]
    except KeyError:
        known = ", ".join(SOURCES)
        raise ConfigError(f"unknown source type {cfg.type!r}; known: {known}") from None
    return factory(cfg)
