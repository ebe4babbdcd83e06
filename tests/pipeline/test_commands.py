"""`run` and `demo` end to end with a tiny real model bundle: summary JSON and clean stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.publish as publish
import pytest
import typer
from typer.testing import CliRunner

from inspector.capture.config import SimulatedSourceConfig
from inspector.capture.simulated import SimulatedLine
from inspector.commands.demo import demo, run_serial_prefix
from inspector.commands.demo_line import HISTORY_PARTS, UpstreamFeed
from inspector.commands.station import run, run_built
from inspector.config import StationConfig
from inspector.errors import EndOfSource, StoreError
from inspector.storage.engine import sqlite_url
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.simulate import PlantedCause

from .fakes import FakeSource, gray

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
        _app(demo), ["--parts", "3", "--fast", "--no-history", "--data-dir", str(data),
                     "--model", str(tiny_bundle)],
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
from inspector.commands.demo import demo
app = typer.Typer(); app.command()(demo); app()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_demo_cleanly_with_every_part_stored(sig, tiny_bundle, tmp_path):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k != "INSPECTOR_DB_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SIGNAL_SCRIPT, "--fast", "--no-history", "--data-dir", str(data),
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
    # No history: a slow machine stores too few parts to name a cause and says so; a fast one may
    # store enough for the planted cause to rank first. Either way one well-formed answer.
    root_cause = [ln for ln in err.splitlines() if ln.startswith("root cause:")][-1]
    assert re.fullmatch(r"root cause: (insufficient data: .+|nothing could be tested \(.+\)|.+ "
                        r"ranks first: .+, q = \S+, (significant|NOT significant: no clear cause); "
                        r"\d+ parts, \d+ defects)", root_cause), root_cause


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


def test_demo_preloads_a_history_and_finds_the_planted_cause(tiny_bundle, tmp_path, monkeypatch):
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    data = tmp_path / "var"
    args = ["--parts", "4", "--fast", "--data-dir", str(data), "--model", str(tiny_bundle)]
    result = CliRunner().invoke(_app(demo), args)
    assert result.exit_code == 0, result.output
    summary = _summary(result.stdout)
    assert summary["parts"] == 4 and summary["history_parts"] == HISTORY_PARTS
    top = summary["root_cause_top"]
    assert top["name"] in PlantedCause().names and top["significant"], top
    assert top["parts"] >= 1000 and top["lift"] > 1.0 and top["q_value"] < 0.05
    cause_line, truth_line = result.stderr.strip().splitlines()[-2:]
    assert cause_line.startswith("root cause: ") and top["name"] in cause_line
    truth = summary["vs_truth"]  # every live part compared with what the camera really showed
    assert truth["defective"] + truth["good"] + truth["not_inspected"] == 4
    assert truth_line.startswith("against the simulated truth: ")
    # every live part read by its code carries the upstream events of its serial
    store = InspectionStore.open(sqlite_url(data))
    try:
        live, _ = store.list(station_id="demo", limit=1000)
        live = [r for r in live if r.model_version != "simulated"]
        events = EventStore(store.engine)
        read = [r for r in live if r.serial_source.value == "code"]
        assert len(live) == 4 and read
        assert all(len(events.for_serial(r.serial)) == 4 for r in read)
    finally:
        store.close()
    # a second run on the same database does not load the history again
    again = CliRunner().invoke(_app(demo), args)
    assert again.exit_code == 0, again.output
    assert "already in" in again.stderr
    assert _stored(data) == HISTORY_PARTS + 8


def test_the_part_plan_picks_each_live_tile_from_the_simulated_outcome(tmp_path):
    store = InspectionStore.open(sqlite_url(tmp_path))
    try:
        events = EventStore(store.engine)
        feed = UpstreamFeed(events, PlantedCause(), seed=7)
        planned: dict[str, str] = {}

        def plan(serial: str) -> str:
            planned[serial] = feed.plan(serial)
            return planned[serial]

        cfg = SimulatedSourceConfig(type="simulated", realtime=False, max_parts=12,
                                    parts_per_minute=60, fps=15, serial_prefix="T-")
        line = SimulatedLine(cfg, plan=plan)
        feed.start()
        line.open()
        with pytest.raises(EndOfSource):
            for _ in range(10_000):
                line.read(1.0)
        feed.stop()
        shown = line.parts
        assert len(shown) == 12 and {p.serial for p in shown} == set(planned)
        assert all(p.true_class == planned[p.serial] for p in shown)
        assert all(len(events.for_serial(p.serial)) == 4 for p in shown)
        assert feed.stored == 48 and feed.dropped == 0
    finally:
        store.close()


def test_run_serial_prefix_is_short_and_changes_with_time():
    first, later = run_serial_prefix(1_000_000), run_serial_prefix(1_000_001)
    assert len(first) == 5 and first.endswith("-") and first != later


def _broker() -> tuple[str, int]:
    value = os.environ.get("INSPECTOR_TEST_MQTT")
    if not value:
        pytest.skip("INSPECTOR_TEST_MQTT is not set (e.g. 127.0.0.1:1883, a running Mosquitto)")
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port or 1883)


def test_run_ingests_mqtt_events_beside_the_station(make_station, tmp_path):
    host, port = _broker()
    topic = f"inspector-test/{uuid.uuid4().hex}/events"
    store = InspectionStore.open(sqlite_url(tmp_path))  # the station would migrate it
    events = EventStore(store.engine)
    cfg = StationConfig.model_validate({
        "station": {"data_dir": str(tmp_path)}, "source": {"type": "folder", "path": "unused"},
        "trace": {"mqtt": {"enabled": True, "host": host, "port": port, "topic": f"{topic}/#",
                           "flush_interval_s": 0.1}},
        "api": {"port": 0},  # a free port: 8000 may be taken by a demo on this PC
    })
    station = make_station(FakeSource([gray(40)], live=True, end=False))
    runner = threading.Thread(target=run_built, args=(station, cfg), daemon=True)
    runner.start()
    try:
        event = {"serial": "MQ-1", "machine": "kiln-2", "step": "firing",
                 "timestamp": "2024-05-01T08:00:00Z", "parameters": {"temperature": 871.5}}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not events.for_serial("MQ-1"):
            # published again until stored: the subscription may not be acknowledged yet
            publish.single(f"{topic}/kiln-2", json.dumps(event), qos=1, hostname=host, port=port)
            time.sleep(0.3)
        assert [e.machine for e in events.for_serial("MQ-1")] == ["kiln-2"]
    finally:
        station.stop()
        runner.join(30)
        store.close()
    assert not runner.is_alive()
