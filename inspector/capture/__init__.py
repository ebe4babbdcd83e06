"""Frame sources: USB and network cameras, video files, image folders, a simulated line."""

from inspector.capture.base import FrameSource, SourceHealth, SourceState
from inspector.capture.config import (
    FolderSourceConfig,
    SimulatedSourceConfig,
    SourceConfig,
    StreamSourceConfig,
    UsbSourceConfig,
    VideoSourceConfig,
    parse_source_spec,
    validate_source_config,
)
from inspector.capture.registry import SOURCES, build_source

__all__ = [
    "SOURCES",
    "FolderSourceConfig",
    "FrameSource",
    "SimulatedSourceConfig",
    "SourceConfig",
    "SourceHealth",
    "SourceState",
    "StreamSourceConfig",
    "UsbSourceConfig",
    "VideoSourceConfig",
    "build_source",
    "parse_source_spec",
    "validate_source_config",
]
