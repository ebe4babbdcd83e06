"""`run` and `demo` end to end with a tiny real model bundle: summary JSON and clean stops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from inspector.commands.station import demo, run
from inspector.errors import StoreError
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore

SUMMARY_KEYS = {"parts", "ok", "ng", "review", "errors", "dropped_frames", "p50_ms", "p99_ms",
                "db"}


def _app(command) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def _summary(output: str) -> dict:
    line = next(ln for ln in output.splitlines() if ln.startswith("{"))
    return json.loads(line)


def _stored(data_dir: Path) -> int:
    store = InspectionStore.open(sqlite_url(data_dir))
    try:
        return sum(store.counts().values())
    finally:
        store.close()


def test_demo_with_parts_prints_one_json_summary(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    data = tmp_path / "var"
    result = CliRunner().invoke(
        _app(demo), ["--parts", "3", "--fast", "--data-dir", str(data), "--model",
                     str(tiny_bundle)],
    )
    assert result.exit_code == 0, result.output
    summary = _summary(result.stdout)
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["parts"] == 3 == summary["ok"] + summary["ng"] + summary["review"]
    assert summary["db"] == sqlite_url(data) and _stored(data) == 3


def test_run_replays_a_folder_from_flags(tiny_bundle, image_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    folder = image_folder(5)
    data = tmp_path / "var"
    result = CliRunner().invoke(
        _app(run), ["--source", f"folder:{folder}", "--model", str(tiny_bundle),
                    "--data-dir", str(data), "--parts", "5"],
    )
    assert result.exit_code == 0, result.output
    assert _summary(result.stdout)["parts"] == 5 and _stored(data) == 5


def test_run_without_config_or_source_is_a_clear_error():
    result = CliRunner().invoke(_app(run), [])
    assert result.exit_code == 1
    assert "give --config station.yaml or --source" in result.output


def test_run_with_a_missing_model_is_a_clear_error(tmp_path, image_folder):
    result = CliRunner().invoke(
        _app(run), ["--source", f"folder:{image_folder(1)}", "--model", str(tmp_path / "nope")],
    )
    assert result.exit_code == 1
    assert "error: model bundle" in result.output


SIGNAL_SCRIPT = """
import sys, typer
from inspector.commands.station import demo
app = typer.Typer(); app.command()(demo); app()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_demo_cleanly_with_every_part_stored(sig, tiny_bundle, tmp_path):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_DB_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, "--fast", "--data-dir", str(data),
         "--model", str(tiny_bundle)],
        stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (_count_or_zero(data) < 3):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    final = [ln for ln in err.splitlines() if ln.startswith("parts ")][-1]
    parts = int(final.split()[1])
    assert parts >= 3 and _stored(data) == parts


def _count_or_zero(data: Path) -> int:
    if not (data / "inspector.db").exists():
        return 0
    try:
        return _stored(data)
    except StoreError:  # the station is creating the schema right now
        return 0


def test_run_with_a_config_file(tiny_bundle, image_folder, tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    monkeypatch.delenv("INSPECTOR_DATA_DIR", raising=False)
    folder, data = image_folder(4), tmp_path / "var"
    config = tmp_path / "station.yaml"
    config.write_text(
        f"station: {{id: replay-test, data_dir: {data}}}\n"
        f"source: {{type: folder, path: {folder}}}\n"
        f"model: {{bundle: {tiny_bundle}}}\n"
        "serial: {type: filename}\n"
        "storage: {images: {ok_sample_rate: 1.0}}\n"
    )
    result = CliRunner().invoke(_app(run), ["--config", str(config)])
    assert result.exit_code == 0, result.output
    store = InspectionStore.open(sqlite_url(data))
    try:
        rows, _ = store.list(station_id="replay-test")
    finally:
        store.close()
    assert sorted(r.serial for r in rows) == [f"part-{i:04d}" for i in range(4)]
    assert all(r.image_path and (data / "images" / r.image_path).is_file() for r in rows)


def test_run_with_an_invalid_config_prints_each_error(tmp_path):
    config = tmp_path / "station.yaml"
    config.write_text("source: {type: usb, fourcc: MJPEG}\nqueues: {jobs: 0}\n")
    result = CliRunner().invoke(_app(run), ["--config", str(config)])
    assert result.exit_code == 1
    assert "source: fourcc must be 4 characters, got 'MJPEG'" in result.output
    assert "queues.jobs: Input should be greater than or equal to 1" in result.output
