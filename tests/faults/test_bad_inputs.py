"""Every broken input through a folder station and `inspector classify`: never OK, a row each."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.cli import app
from inspector.commands.station import run_station
from inspector.config import StationConfig
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.faults.inputs import TILES, write_faults

DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile"


@pytest.fixture(scope="module")
def line_folder(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """Broken files mixed with three real tiles, as a folder station would find them."""
    folder = tmp_path_factory.mktemp("line")
    faults = write_faults(folder)
    for tile in TILES[1:4]:
        shutil.copy(tile, folder / f"real-{tile.name}")
    return folder, faults


def _rows(data_dir: Path) -> dict[str, object]:
    store = InspectionStore.open(sqlite_url(data_dir))
    try:
        rows, _ = store.list(limit=1000)
    finally:
        store.close()
    return {row.source_ref.rsplit("/", 1)[-1]: row for row in rows}


def test_a_folder_station_gives_every_broken_file_a_row_and_never_ok(line_folder, tmp_path):
    folder, faults = line_folder
    cfg = StationConfig.model_validate({
        "station": {"id": "faults", "data_dir": str(tmp_path / "data")},
        "source": {"type": "folder", "path": str(folder)},
        "trigger": {"type": "per_frame"},
        "model": {"bundle": str(DEFAULT_BUNDLE)},
        "serial": {"type": "filename"},
        "outputs": [{"type": "log"}],
        "api": {"port": 0},
    })
    metrics = run_station(cfg, parts=None)
    rows = _rows(tmp_path / "data")
    assert sorted(rows) == sorted(p.name for p in folder.iterdir())  # one row per file, none lost
    for name, fault in faults.items():
        row = rows[name]
        assert row.verdict.value != "OK", f"{fault} ({name}) judged OK"
        assert row.status.value == "bad_image" and row.error, f"{fault} ({name}): {row}"
    judged = [rows[n] for n in rows if n.startswith("real-")]
    assert all(r.status.value == "ok" and r.model_version for r in judged)
    assert metrics.statuses["bad_image"] == len(faults) and metrics.parts == len(rows)


def test_classify_prints_every_broken_file_with_its_reason_and_keeps_going(line_folder):
    folder, faults = line_folder
    files = sorted(folder.iterdir())
    result = CliRunner().invoke(app, ["classify", str(DEFAULT_BUNDLE), *map(str, files), "--json"])
    assert result.exit_code == 1  # some inputs were unusable
    lines = {Path(line["image"]).name: line for line in map(json.loads, result.stdout.splitlines())}
    assert sorted(lines) == [f.name for f in files]
    for name in faults:
        assert lines[name]["status"] == "bad_image" and lines[name]["verdict"] != "OK", lines[name]
        assert lines[name]["error"]
    assert all(lines[n]["status"] == "ok" for n in lines if n.startswith("real-"))
