"""Trigger, manifest and filename serial readers, and the discriminated config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from inspector.domain import Frame, SerialSource, Trigger
from inspector.errors import SerialError
from inspector.serials import (
    READERS,
    FilenameSerialReader,
    ManifestSerialReader,
    SerialReaderConfig,
    TriggerSerialReader,
    build_reader,
)

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
CONFIG = TypeAdapter(SerialReaderConfig)


def _frame(name: str | None = None, hint: str | None = None) -> Frame:
    return Frame(np.zeros((4, 4), np.uint8), 1, "cam", 0.0, NOW, name=name, serial_hint=hint)


def _trigger(serial: str | None) -> Trigger:
    return Trigger(part_id="p1", t_mono=0.0, t_utc=NOW, kind="external", serial=serial)


def test_config_is_discriminated_on_type_and_forbids_extras() -> None:
    assert isinstance(build_reader(CONFIG.validate_python({"type": "trigger"})),
                      TriggerSerialReader)
    assert set(READERS) == {"code", "trigger", "manifest", "filename"}
    with pytest.raises(ValidationError, match="Extra inputs"):
        CONFIG.validate_python({"type": "code", "colour": "red"})
    with pytest.raises(ValidationError, match="regular expression"):
        CONFIG.validate_python({"type": "filename", "pattern": "(unclosed"})
    with pytest.raises(ValidationError, match="inside the frame"):
        CONFIG.validate_python({"type": "code", "roi": {"x": 0.7, "w": 0.5}})


def test_trigger_reader_takes_the_trigger_serial() -> None:
    reader = build_reader(CONFIG.validate_python({"type": "trigger", "pattern": r"SN-\d+"}))
    ok = reader.read(_frame(), _trigger(" SN-42 "))
    assert (ok.serial, ok.source) == ("SN-42", SerialSource.TRIGGER)
    assert reader.read(_frame(), _trigger(None)).source is SerialSource.NO_READ
    bad = reader.read(_frame(), _trigger("LOT-1"))
    assert bad.serial is None and "does not match" in (bad.reason or "")


def test_filename_reader_uses_named_group_or_stem() -> None:
    stem = build_reader(CONFIG.validate_python({"type": "filename"}))
    assert stem.read(_frame("/x/y/SN-7.jpg")).serial == "SN-7"
    grouped = FilenameSerialReader.from_config(
        CONFIG.validate_python({"type": "filename", "pattern": r"part_(?P<serial>\d+)_"})
    )
    read = grouped.read(_frame("cam1/part_000123_top.png"))
    assert (read.serial, read.source) == ("000123", SerialSource.FILENAME)
    assert grouped.read(_frame("other.png")).source is SerialSource.NO_READ
    assert grouped.read(_frame(None)).reason == "the frame has no file name"


def test_manifest_reader_with_file(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("image,serial\nimages/a.jpg,SN-A\nb.jpg,SN-B\n", encoding="utf-8")
    reader = build_reader(CONFIG.validate_python({"type": "manifest", "path": str(manifest)}))
    assert reader.read(_frame("images/a.jpg")).serial == "SN-A"
    assert reader.read(_frame("/elsewhere/b.jpg")).serial == "SN-B"
    assert reader.read(_frame("c.jpg")).source is SerialSource.NO_READ


def test_manifest_reader_without_file_uses_the_hint() -> None:
    reader = build_reader(CONFIG.validate_python({"type": "manifest"}))
    assert isinstance(reader, ManifestSerialReader)
    read = reader.read(_frame("a.jpg", hint="SN-H"))
    assert (read.serial, read.source) == ("SN-H", SerialSource.MANIFEST)
    assert reader.read(_frame("a.jpg")).serial is None


def test_bad_manifest_fails_at_build_with_a_clear_error(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text("name,serial\na.jpg,SN-A\n", encoding="utf-8")
    cfg = CONFIG.validate_python({"type": "manifest", "path": str(manifest)})
    with pytest.raises(SerialError, match="lacks column"):
        build_reader(cfg)
    missing = CONFIG.validate_python({"type": "manifest", "path": str(tmp_path / "nope.csv")})
    with pytest.raises(SerialError, match="cannot read manifest"):
        build_reader(missing)
