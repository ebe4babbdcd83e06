"""Serial taken from a replay manifest CSV (file name -> serial) or the source's serial hint."""

from __future__ import annotations

import csv
from pathlib import Path, PurePath

from inspector.domain import Frame, SerialSource, Trigger
from inspector.errors import SerialError
from inspector.serials.base import SerialRead, clean_serial, no_read
from inspector.serials.config import ManifestReaderConfig


def load_manifest(path: Path, file_column: str = "image", serial_column: str = "serial") -> dict:
    """Read a manifest CSV into {file name: serial}; keyed by the path as written and its name."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {file_column, serial_column} - set(reader.fieldnames or ())
            if missing:
                raise SerialError(f"{path}: manifest lacks column(s) {sorted(missing)}")
            mapping: dict[str, str] = {}
            for line, row in enumerate(reader, start=2):
                serial = clean_serial(row[serial_column])
                if serial is None:
                    raise SerialError(f"{path} line {line}: empty or malformed serial")
                mapping[row[file_column]] = serial
                mapping.setdefault(PurePath(row[file_column]).name, serial)
    except OSError as exc:
        raise SerialError(f"cannot read manifest {path}: {exc}") from exc
    return mapping


class ManifestSerialReader:
    """Looks the frame's file name up in the manifest; without one, uses frame.serial_hint."""

    source = SerialSource.MANIFEST

    def __init__(self, config: ManifestReaderConfig, mapping: dict[str, str] | None = None) -> None:
        self.config = config
        self._mapping = mapping

    @classmethod
    def from_config(cls, config: ManifestReaderConfig) -> ManifestSerialReader:
        """Build a reader; loads the manifest now so a bad file fails at start, not mid-run."""
        mapping = None
        if config.path is not None:
            mapping = load_manifest(config.path, config.file_column, config.serial_column)
        return cls(config, mapping)

    def read(self, frame: Frame | None, trigger: Trigger | None = None) -> SerialRead:
        """The manifest's serial for this frame, or a no-read when the frame is not listed."""
        if frame is None:
            return no_read("no frame for this part")
        if self._mapping is None:
            serial = clean_serial(frame.serial_hint)
            if serial is None:
                return no_read("the frame carries no serial hint from a manifest")
            return SerialRead(serial, SerialSource.MANIFEST)
        name = frame.name or ""
        serial = self._mapping.get(name) or self._mapping.get(PurePath(name).name)
        if serial is None:
            return no_read(f"file {name!r} is not in the manifest")
        return SerialRead(serial, SerialSource.MANIFEST)
