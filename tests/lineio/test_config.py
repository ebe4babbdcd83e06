"""The `lineio:` section: topic templates, check-config, the payloads, /metrics and the status."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import yaml

from inspector.api.prometheus import StationCollector
from inspector.commands.api_server import station_control
from inspector.commands.preflight import lineio_problems
from inspector.config import ConfigValidationError, parse_config
from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.lineio.payloads import BadTrigger, parse_trigger, result_payload
from inspector.pipeline.station import Station
from tests.lineio.helpers import station_config
from tests.pipeline.fakes import FakeClassifier


def _parse(*lines: dict, **extra):
    return parse_config({"source": {"type": "folder", "path": "x"}, "lineio": list(lines), **extra})


def test_topic_templates_with_unknown_placeholders_or_wildcards_are_refused():
    with pytest.raises(ConfigValidationError) as err:
        _parse({"type": "mqtt", "result_topic": "plant/{line}/result", "status_topic": "s/#",
                "alarm_topic": "a/{station_id}/{alarm}", "bogus": 1})
    issues = err.value.issues
    assert any(i.startswith("lineio.0.result_topic: unknown placeholder {line}") for i in issues)
    assert any(i.startswith("lineio.0.status_topic: a published topic cannot hold") for i in issues)
    assert any(i.startswith("lineio.0.bogus:") for i in issues)
    assert not any("alarm_topic" in i for i in issues)
    cfg = _parse({"type": "mqtt", "trigger_topic": "plant/+/trigger"})  # a filter may subscribe
    assert cfg.lineio[0].result_topic == "inspector/{station_id}/result" and not _parse().lineio


def test_exactly_once_results_need_a_session_the_broker_keeps():
    with pytest.raises(ConfigValidationError) as err:
        _parse({"type": "mqtt", "session_expiry_s": 0})
    assert "qos 2 needs the broker to keep the session" in err.value.issues[0]
    line = _parse({"type": "mqtt", "qos": 1, "session_expiry_s": 0}).lineio[0]
    assert (line.qos, line.session_expiry_s) == (1, 0)
    assert _parse({"type": "mqtt"}).lineio[0].qos == 2


def test_check_config_finds_shared_names_and_triggers_the_station_refuses():
    cfg = _parse({"type": "mqtt"}, {"type": "mqtt", "port": 1884})
    problems = lineio_problems(cfg)
    assert any(p.startswith("lineio.1.name: 'mqtt' is used twice") for p in problems)
    assert any(p.startswith("lineio.1.client_id:") for p in problems)
    assert any(p.startswith("lineio.0.triggers: the station refuses") for p in problems)
    ok = _parse({"type": "mqtt"}, {"type": "mqtt", "name": "mes", "triggers": False},
                trigger={"type": "external"})
    assert lineio_problems(ok) == []


def test_check_config_command_prints_the_template_error(tmp_path, capsys):
    import typer

    from inspector.commands.station import check_config

    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump({"source": {"type": "folder", "path": str(tmp_path)},
                                    "lineio": [{"type": "mqtt", "ack_topic": "x/{part}"}]}))
    with pytest.raises(typer.Exit):
        check_config(path)
    assert "lineio.0.ack_topic: unknown placeholder {part}" in capsys.readouterr().err


@pytest.mark.parametrize("payload, expected", [
    (b"", {"serial": None, "part_ref": None}),
    (b'{"serial": "SN1", "part_ref": "R-1", "meta": {"lane": 2}}',
     {"serial": "SN1", "part_ref": "R-1"}),
])
def test_trigger_payloads(payload, expected):
    msg = parse_trigger(payload)
    assert {"serial": msg.serial, "part_ref": msg.part_ref} == expected


@pytest.mark.parametrize("payload", [b"{", b"3", b'{"serial": ""}', b'{"part_ref": "a b"}',
                                     b'{"serial": "x", "meta": {"a": [1]}}', b"\xff\xfe"])
def test_malformed_trigger_payloads_are_bad_triggers(payload):
    with pytest.raises(BadTrigger):
        parse_trigger(payload)


def test_result_payload_is_json_with_the_parts_facts():
    now = datetime.now(UTC)
    row = Inspection("p1", "s1", "SN", SerialSource.TRIGGER, now, now, Status.OK, Verdict.NG,
                     label="crack", defect_score=0.9, scores={"crack": 0.9, "odd": float("nan")},
                     model_version="m@1", threshold_ng=0.5, threshold_review=0.3, part_ref="R")
    body = json.loads(json.dumps(result_payload(row, 7), allow_nan=False))
    assert body["part_id"] == "p1" and body["verdict"] == "NG" and body["seq"] == 7
    assert body["scores"] == {"crack": 0.9, "odd": None} and body["model_version"] == "m@1"
    assert body["inspected_at"] == now.isoformat() and body["thresholds"]["ng"] == 0.5


def test_connection_state_shows_in_the_station_status_and_metrics(tmp_path):
    cfg = station_config(tmp_path, {"port": 1, "name": "plant-bus"})  # nothing listens on port 1
    station = Station.from_config(cfg, FakeClassifier())
    control = station_control(cfg, station)
    assert station_control(cfg, station) is control  # one controller per station
    status = control.status()
    lines = status["extra"]["lineio"]
    assert lines[0]["name"] == "plant-bus" and lines[0]["connected"] is False
    collector = StationCollector(lambda: [(cfg.station.id, status, None)])
    families = {f.name: f for f in collector.collect()}
    sample = families["inspector_lineio_connected"].samples[0]
    assert sample.labels == {"station": cfg.station.id, "protocol": "plant-bus"}
    assert sample.value == 0.0
