"""Serial taken from the image file name (replays of image folders)."""

from __future__ import annotations

import re
from pathlib import PurePath

from inspector.domain import Frame, SerialSource, Trigger
from inspector.serials.base import SerialRead, clean_serial, no_read
from inspector.serials.config import FilenameReaderConfig


class FilenameSerialReader:
    """Applies a regex to the frame's file name; the group 'serial' (or the match) is the serial."""

    source = SerialSource.FILENAME

    def __init__(self, config: FilenameReaderConfig) -> None:
        self.config = config
        self._pattern = re.compile(config.pattern)

    @classmethod
    def from_config(cls, config: FilenameReaderConfig) -> FilenameSerialReader:
        """Build a reader from its config model."""
        return cls(config)

    def read(self, frame: Frame | None, trigger: Trigger | None = None) -> SerialRead:
        """The serial in the file name, or a no-read when the frame has no name or no match."""
        if frame is None or not frame.name:
            return no_read("the frame has no file name")
        name = PurePath(frame.name).name
        match = self._pattern.search(name)
        if match is None:
            return no_read(f"file name {name!r} does not match the pattern")
        text = match.group("serial") if "serial" in match.re.groupindex else match.group(0)
        serial = clean_serial(text)
        if serial is None:
            return no_read(f"file name {name!r} gives an empty serial")
        return SerialRead(serial, SerialSource.FILENAME)
