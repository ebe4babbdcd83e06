"""Serial readers: in-frame codes, trigger messages, replay manifests and file names."""

from inspector.serials.base import CodeHit, SerialRead, SerialReader, clean_serial, no_read
from inspector.serials.code import CodeReader
from inspector.serials.config import (
    CodeReaderConfig,
    FilenameReaderConfig,
    ManifestReaderConfig,
    Region,
    SerialReaderConfig,
    TriggerReaderConfig,
)
from inspector.serials.filename import FilenameSerialReader
from inspector.serials.manifest import ManifestSerialReader
from inspector.serials.registry import READERS, build_reader
from inspector.serials.trigger import TriggerSerialReader

__all__ = [
    "READERS",
    "CodeHit",
    "CodeReader",
    "CodeReaderConfig",
    "FilenameReaderConfig",
    "FilenameSerialReader",
    "ManifestReaderConfig",
    "ManifestSerialReader",
    "Region",
    "SerialRead",
    "SerialReader",
    "SerialReaderConfig",
    "TriggerReaderConfig",
    "TriggerSerialReader",
    "build_reader",
    "clean_serial",
    "no_read",
]
