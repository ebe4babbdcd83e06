"""Failures are loud: an unreachable database at start, alarms on outputs, the exit code."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import threading
from pathlib import Path

from typer.testing import CliRunner

from inspector.cli import app
from inspector.domain import Alarm
from inspector.pipeline.alarms import AlarmWatch
from inspector.pipeline.metrics import StationMetrics
from inspector.storage.journal import Journal
from tests.faults.inputs import TILES

BUNDLE = Path(__file__).resolve().parents[2] / "weights" / "magnetic-tile"
AWAY = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"  # nothing listens


def _config(tmp_path: Path, url: str) -> Path:
    folder = tmp_path / "line"
    folder.mkdir()
    for tile in TILES[:3]:
        shutil.copy(tile, folder / tile.name)
    path = tmp_path / "station.yaml"
    path.write_text(f"station: {{id: loud, data_dir: {tmp_path / 'data'}}}\n"
                    f"source: {{type: folder, path: {folder}}}\n"
                    f"model: {{bundle: {BUNDLE}}}\n"
                    f"storage: {{url: '{url}', retry_interval_s: 60}}\n"
                    "outputs: [{type: log}]\n")
    return path


def test_an_unreachable_database_at_start_stops_the_station_with_a_clear_error(tmp_path):
    result = CliRunner().invoke(app, ["run", "--config", str(_config(tmp_path, AWAY))])
    assert result.exit_code == 2
    assert "database is unreachable" in result.output and "--journal-only" in result.output
    assert not (tmp_path / "data" / "journal.jsonl").exists()  # nothing ran


def test_journal_only_runs_journals_every_part_raises_the_alarm_and_exits_4(tmp_path, caplog):
    config = _config(tmp_path, AWAY)
    with caplog.at_level(logging.WARNING):
        result = CliRunner().invoke(app, ["run", "--config", str(config), "--journal-only"])
    assert result.exit_code == 4, result.output  # rows are only in the journal
    assert Journal(tmp_path / "data" / "journal.jsonl").pending() == 3
    alarms = [r.getMessage() for r in caplog.records if r.name == "inspector.verdicts"
              and "ALARM" in r.getMessage()]
    assert any("store_unreachable raised" in a for a in alarms), alarms


def test_a_clean_run_exits_0(tmp_path):
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'inspector.db'}")
    assert CliRunner().invoke(app, ["run", "--config", str(config)]).exit_code == 0


class Collecting:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


def _metrics(**changes) -> StationMetrics:
    base = StationMetrics(
        station_id="s", running=True, uptime_s=1, camera_state="online", camera_online=True,
        camera_reconnects=0, last_frame_age_s=0.1, frames_captured=1, triggered=1, capture_fps=30,
        dropped_frames=0, drops={}, queue_depths={}, inference_ms_p50=None, inference_ms_p99=None,
        e2e_ms_p50=None, e2e_ms_p99=None, parts=1, parts_per_min=1, verdicts={}, statuses={},
        no_read=0, rows_committed=1, rows_journaled=0, journal_pending=0, db_online=True,
        disk_problem=False, output_failures=0)
    return dataclasses.replace(base, **changes)


def test_alarms_are_raised_once_and_cleared_once_on_every_output():
    out = Collecting()
    watch = AlarmWatch("s", [out, object()], metrics=_metrics, until=lambda: True)
    watch.check(_metrics())
    for _ in range(3):  # a camera that stays offline is announced once
        watch.check(_metrics(camera_state="camera_offline", camera_online=False))
    watch.check(_metrics(camera_state="online"))
    watch.check(_metrics(db_online=False, journal_pending=5))
    watch.check(_metrics(drops={"late": 2}))
    assert [(a.kind, a.active) for a in out.alarms] == [
        ("camera_offline", True), ("camera_offline", False), ("store_unreachable", True),
        ("store_unreachable", False), ("deadline_missed", True)]
    assert watch.active_kinds() == ["deadline_missed"]


def test_the_watch_ends_at_once_when_woken_after_the_pipeline(monkeypatch):
    from inspector.pipeline import alarms

    monkeypatch.setattr(alarms, "CHECK_EVERY_S", 60.0)  # without the wake it would sleep a minute
    ended = threading.Event()
    out = Collecting()
    watch = AlarmWatch("s", [out], metrics=_metrics, until=ended.is_set)
    watch.start()
    ended.set()
    assert not watch.join(0.2)  # still asleep: the pipeline's end alone does not wake it
    watch.wake()
    assert watch.join(5.0)
