"""storage.central_url in station.yaml, check-config's verdict on it, `inspector forward`, and the
forwarder thread `inspector run` starts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.cli import app
from inspector.commands.forward import forwarding
from inspector.commands.preflight import central_problem
from inspector.config import StationConfig, parse_config, summary
from inspector.errors import ConfigError
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore
from tests.storage.conftest import MakeInspection
from tests.storage.test_forward import central_counts, queued


def config(tmp_path: Path, **storage: object) -> StationConfig:
    return parse_config({"station": {"id": "st-1", "data_dir": str(tmp_path / "var")},
                         "source": {"type": "folder", "path": str(tmp_path)},
                         "storage": storage})


def test_the_central_password_comes_from_the_environment(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(tmp_path, central_url="postgresql+psycopg://inspector:${CENTRAL_PW}@db/plant")
    monkeypatch.setenv("CENTRAL_PW", "s3cret")
    assert cfg.central_db_url() == "postgresql+psycopg://inspector:s3cret@db/plant"
    monkeypatch.delenv("CENTRAL_PW")
    with pytest.raises(ConfigError, match=r"storage\.central_url: environment variable CENTRAL_PW"):
        cfg.central_db_url()
    assert central_problem(cfg) == ("storage.central_url: environment variable CENTRAL_PW "
                                    "is not set")
    assert config(tmp_path).central_db_url() is None


def test_check_config_names_a_central_url_that_cannot_work(tmp_path: Path) -> None:
    assert central_problem(config(tmp_path)) is None
    assert central_problem(config(tmp_path, central_url="postgresql+psycopg://u@db/plant")) is None
    bad = central_problem(config(tmp_path, central_url="mysql://u@db/plant"))
    assert bad is not None and bad.startswith("storage.central_url: unknown database 'mysql'")
    own = sqlite_url(tmp_path / "var")
    same = central_problem(config(tmp_path, central_url=own))
    assert same is not None and "the station's own database" in same
    pg_station = central_problem(config(tmp_path, url="postgresql+psycopg://u@db/st",
                                        central_url="postgresql+psycopg://u@db/plant"))
    assert pg_station is not None and "SQLite" in pg_station


def test_check_config_reports_the_central_database(tmp_path: Path) -> None:
    cfg = config(tmp_path, central_url="postgresql+psycopg://u:${PW}@db/plant")
    assert "central=postgresql+psycopg://u:***@db/plant" in summary(cfg)
    path = tmp_path / "station.yaml"
    path.write_text(f"source: {{type: folder, path: {tmp_path}}}\n"
                    "storage: {central_url: 'postgresql+psycopg://u:${PW}@db/plant'}\n")
    result = CliRunner().invoke(app, ["check-config", str(path)], env={"PW": None})
    assert result.exit_code == 1
    assert "storage.central_url: environment variable PW is not set" in result.output


def test_inspector_forward_ships_the_queue_and_switches_off(
        tmp_path: Path, make_inspection: MakeInspection) -> None:
    station = InspectionStore.open(sqlite_url(tmp_path / "station"))
    central = sqlite_url(tmp_path / "central")
    db = station.engine.url.render_as_string(hide_password=False)
    try:
        station.write([make_inspection(i) for i in range(25)])
        result = CliRunner().invoke(app, ["forward", "--db", db, "--central", central,
                                          "--station-id", "st-1", "--batch-rows", "10", "--once"])
        assert result.exit_code == 0, result.output
        assert "forwarded 25 queued rows in 3 batches" in result.output
        assert central_counts(central)["inspections"] == 25
        station.write([make_inspection(25)])
        assert queued(station) == 1
        off = CliRunner().invoke(app, ["forward", "--db", db, "--off"])
        assert off.exit_code == 0 and "1 queued rows dropped" in off.output
        station.write([make_inspection(26)])
        assert queued(station) == 0
    finally:
        station.close()


def test_inspector_forward_refuses_missing_arguments(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["forward", "--db", sqlite_url(tmp_path)])
    assert result.exit_code == 1 and "no central database" in result.output
    result = CliRunner().invoke(app, ["forward", "--db", sqlite_url(tmp_path),
                                      "--central", "postgresql://u:${NOT_SET_29}@db/x"])
    assert result.exit_code == 1 and "NOT_SET_29 is not set" in result.output
    result = CliRunner().invoke(app, ["forward", "--db", sqlite_url(tmp_path),
                                      "--central", sqlite_url(tmp_path / "central")])
    assert result.exit_code == 1 and "give --station-id" in result.output


def test_the_station_forwards_on_its_own_thread_while_it_runs(
        tmp_path: Path, make_inspection: MakeInspection) -> None:
    cfg = config(tmp_path, central_url=sqlite_url(tmp_path / "central"),
                 forward={"heartbeat_s": 0.2, "batch_rows": 5})
    central = sqlite_url(tmp_path / "central")
    station = InspectionStore.open(cfg.db_url())
    try:
        with forwarding(cfg) as forwarder:
            assert forwarder is not None
            station.write([make_inspection(i) for i in range(12)])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if queued(station) == 0 and _stored(central) == 12:
                    break
                time.sleep(0.1)
        assert central_counts(central)["inspections"] == 12
    finally:
        station.close()
    with forwarding(config(tmp_path)) as none:
        assert none is None


def _stored(url: str) -> int:
    try:
        return central_counts(url)["inspections"]
    except Exception:  # the central file is created by the forwarder's first contact
        return -1


def test_a_missing_central_password_stops_the_start_with_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CENTRAL_PW_29", raising=False)
    cfg = config(tmp_path, central_url="postgresql+psycopg://u:${CENTRAL_PW_29}@db/plant")
    with pytest.raises(ConfigError, match="CENTRAL_PW_29 is not set"), forwarding(cfg):
        pass
