"""The serial reader registry: config `type` -> implementation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from inspector.serials.base import SerialReader
from inspector.serials.code import CodeReader
from inspector.serials.config import SerialReaderConfig
from inspector.serials.filename import FilenameSerialReader
from inspector.serials.manifest import ManifestSerialReader
from inspector.serials.trigger import TriggerSerialReader

READERS: dict[str, Callable[[Any], SerialReader]] = {
    "code": CodeReader.from_config,
    "trigger": TriggerSerialReader.from_config,
    "manifest": ManifestSerialReader.from_config,
    "filename": FilenameSerialReader.from_config,
}


def build_reader(config: SerialReaderConfig) -> SerialReader:
    """The reader a config asks for (the config is already validated by pydantic)."""
    return READERS[config.type](config)
