"""station.yaml validation: examples pass, errors read `path.to.key: message`, env overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from inspector.commands.station import check_config
from inspector.config import (
    ConfigValidationError,
    StationConfig,
    load_config,
    parse_config,
)
from inspector.errors import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("station-*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid(path):
    cfg = load_config(path, environ={})
    assert isinstance(cfg, StationConfig)


def test_examples_exist():
    assert {p.name for p in EXAMPLES} >= {"station-usb.yaml", "station-folder.yaml"}


def test_defaults_fill_a_minimal_config(tmp_path):
    cfg = parse_config({"source": {"type": "folder", "path": "imgs"}})
    assert cfg.trigger.type == "per_frame" and cfg.serial.type == "generated"
    assert cfg.station.data_dir == Path("var")
    assert cfg.db_url() == "sqlite:///var/inspector.db"
    assert [o.type for o in cfg.outputs] == ["log"]


def _issues(data) -> list[str]:
    with pytest.raises(ConfigValidationError) as info:
        parse_config(data)
    return info.value.issues


def test_errors_name_the_yaml_path_without_union_tags():
    issues = _issues({
        "station": {"id": "bad id!"},
        "source": {"type": "folder", "paht": "x"},
        "trigger": {"type": "presence", "roi": {"x": 2}, "settle_frames": 0},
        "outputs": [{"type": "log"}, {"type": "command", "ng": "not-a-list"}],
        "extra": 1,
    })
    text = "\n".join(issues)
    assert "station.id: String should match pattern" in text
    assert "source.path: Field required" in text
    assert "source.paht: Extra inputs are not permitted" in text
    assert "trigger.roi.x: Input should be less than 1" in text
    assert "trigger.settle_frames: Input should be greater than or equal to 1" in text
    assert "outputs.1.ng: Input should be a valid list" in text
    assert "extra: Extra inputs are not permitted" in text
    assert all(": " in line and not line.startswith("trigger.presence") for line in issues)


def test_unknown_union_member_and_model_level_errors():
    issues = _issues({
        "source": {"type": "webcam"},
        "trigger": {"type": "presence", "roi": {"x": 0.8, "w": 0.5}},
        "outputs": [{"type": "command"}],
        "serial": {"type": "code", "pattern": "("},
    })
    text = "\n".join(issues)
    assert text.count("source: Input tag 'webcam' found using 'type' does not match") == 1
    assert "trigger.roi: roi must lie inside the frame" in text
    assert "outputs.0: give a command for at least one of ng, review, ok" in text
    assert "serial.pattern: " in text and "not a valid regular expression" in text


def test_load_config_reports_file_problems(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigValidationError, match=r"\(root\): expected a mapping, got empty"):
        load_config(empty)


def test_environment_overrides_deployment_facts(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("source: {type: folder, path: x}\nstation: {data_dir: /srv/a}\n")
    env = {"INSPECTOR_DATA_DIR": str(tmp_path / "data"),
           "INSPECTOR_DB_URL": "postgresql+psycopg://u@h/db"}
    cfg = load_config(path, environ=env)
    assert cfg.station.data_dir == tmp_path / "data"
    assert cfg.db_url() == "postgresql+psycopg://u@h/db"
    assert load_config(path, environ={}).station.data_dir == Path("/srv/a")


def test_check_config_prints_each_error_and_exits_1(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("source: {type: folder}\ntrigger: {type: external, max_skew_s: -1}\n")
    with pytest.raises(typer.Exit) as info:
        check_config(path)
    assert info.value.exit_code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "source.path: Field required",
        "trigger.max_skew_s: Input should be greater than 0",
    ]


def test_check_config_ok_prints_summary(capsys, monkeypatch):
    monkeypatch.delenv("INSPECTOR_DATA_DIR", raising=False)
    monkeypatch.delenv("INSPECTOR_DB_URL", raising=False)
    folder = next(p for p in EXAMPLES if p.name == "station-folder.yaml")
    check_config(folder)
    out = capsys.readouterr().out
    assert out.startswith("OK station=replay") and "trigger=per_frame" in out


def test_the_trace_section_defaults_to_no_mqtt():
    cfg = parse_config({"source": {"type": "folder", "path": "imgs"}})
    assert cfg.trace.mqtt.enabled is False and cfg.trace.root_cause.alpha == 0.05


def test_the_trace_section_enables_mqtt_ingestion():
    cfg = parse_config({
        "source": {"type": "folder", "path": "imgs"},
        "trace": {"mqtt": {"enabled": True, "host": "broker.local", "topic": "plant/+/events"},
                  "root_cause": {"min_parts": 100}},
    })
    assert cfg.trace.mqtt.enabled and cfg.trace.mqtt.host == "broker.local"
    assert cfg.trace.mqtt.topic == "plant/+/events" and cfg.trace.root_cause.min_parts == 100


def test_trace_section_errors_name_their_path():
    issues = _issues({"source": {"type": "folder", "path": "imgs"},
                      "trace": {"mqtt": {"port": 70000, "qos": 3, "brokr": "x"}}})
    assert "trace.mqtt.port: Input should be less than or equal to 65535" in issues
    assert any(i.startswith("trace.mqtt.qos: ") for i in issues)
    assert "trace.mqtt.brokr: Extra inputs are not permitted" in issues
