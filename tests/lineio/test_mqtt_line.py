"""The MQTT line against a real broker: triggers in, one result per part out, status, alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from inspector.commands.api_server import station_api
from inspector.domain import Alarm
from inspector.pipeline.station import Station
from inspector.storage.store import InspectionStore
from tests.lineio.helpers import Collector, broker, station_config
from tests.pipeline.fakes import FakeClassifier
from tests.rows import stored_rows


def _station(cfg) -> Station:
    return Station.from_config(cfg, FakeClassifier(), store=InspectionStore.open(cfg.db_url()))


def test_1000_mqtt_triggers_give_1000_rows_and_1000_results(tmp_path):
    host, port = broker()
    cfg = station_config(tmp_path, {"host": host, "port": port})
    sid = cfg.station.id
    collector = Collector(host, port, f"inspector/{sid}/#")
    station = _station(cfg)
    line = station.parts.outputs[-1]
    try:
        with station_api(cfg, station):
            station.start()
            assert line.wait_ready(10)
            for i in range(1000):
                collector.publish(f"inspector/{sid}/trigger",
                                  json.dumps({"serial": f"SN-{i:04d}", "part_ref": f"R{i}"}))
            for i in range(0, 1000, 100):  # retries of announced parts: the same part again
                collector.publish(f"inspector/{sid}/trigger", json.dumps({"part_ref": f"R{i}"}))
            assert collector.wait(lambda: len(collector.on("/result")) >= 1000, 60)
            assert collector.wait(lambda: len(collector.on("/trigger/ack")) >= 1010, 10)
            status = station.metrics()
            assert station.stop(60)
        assert collector.wait(lambda: collector.on("/status")[-1:] == ["offline"], 5)
    finally:
        collector.close()
    rows = stored_rows(tmp_path / "data")
    assert len(rows) == 1000 and status.triggered == 1000
    results = collector.on("/result")
    ids = collector.part_ids()
    assert len(results) == 1000 and set(ids) == {r.part_id for r in rows} and max(ids.values()) == 1
    by_ref = {r.part_ref: r for r in rows}
    first = results[0]
    row = by_ref[first["part_ref"]]
    assert first["serial"] == row.serial and first["verdict"] == row.verdict.value
    assert first["model_version"] == row.model_version and "scores" in first
    assert [r["seq"] for r in results] == sorted(r["seq"] for r in results)  # insertion order
    acks = collector.on("/trigger/ack")
    assert sum(a["duplicate"] for a in acks) == 10
    assert collector.on("/status")[0] == "online"
    state = line.state()
    assert state.delivered == 1000 and state.backlog == 0 and state.triggers == 1010


def test_malformed_triggers_are_answered_on_the_error_topic_and_counted(tmp_path):
    host, port = broker()
    cfg = station_config(tmp_path, {"host": host, "port": port})
    sid = cfg.station.id
    collector = Collector(host, port, f"inspector/{sid}/#")
    station = _station(cfg)
    line = station.parts.outputs[-1]
    bad = [b"not json", b"[1, 2]", json.dumps({"serial": "a\x00b"}).encode(),
           json.dumps({"serial": "S", "part_ref": "P1", "extra": 1}).encode(), b"{" * 20_000]
    try:
        with station_api(cfg, station):
            station.start()
            assert line.wait_ready(10)
            for payload in bad:
                collector.publish(f"inspector/{sid}/trigger", payload)
            collector.publish(f"inspector/{sid}/trigger", json.dumps({"serial": "GOOD"}))
            assert collector.wait(lambda: len(collector.on("/trigger/error")) == len(bad), 10)
            assert collector.wait(lambda: len(collector.on("/result")) == 1, 10)
            assert station.stop(30)
    finally:
        collector.close()
    errors = collector.on("/trigger/error")
    assert any("not JSON" in e["error"] for e in errors)
    assert any(e["part_ref"] == "P1" and "extra" in e["error"] for e in errors)
    assert line.state().bad_triggers == len(bad) and line.state().triggers == 1
    assert [r.serial for r in stored_rows(tmp_path / "data")] == ["GOOD"]


def test_triggers_refused_when_the_station_takes_none(tmp_path):
    host, port = broker()
    cfg = station_config(tmp_path, {"host": host, "port": port, "results": False},
                         trigger={"type": "per_frame"})
    sid = cfg.station.id
    collector = Collector(host, port, f"inspector/{sid}/trigger/error")
    station = _station(cfg)
    try:
        with station_api(cfg, station):
            station.start()
            assert station.parts.outputs[-1].wait_ready(10)
            collector.publish(f"inspector/{sid}/trigger", json.dumps({"part_ref": "X"}))
            assert collector.wait(lambda: len(collector.on("/error")) == 1, 10)
            station.stop(30)
    finally:
        collector.close()
    answer = collector.on("/error")[0]
    assert answer["part_ref"] == "X" and "external" in answer["error"]


def test_alarms_are_retained_per_kind_and_the_last_will_says_offline(tmp_path):
    host, port = broker()
    cfg = station_config(tmp_path, {"host": host, "port": port, "triggers": False})
    sid = cfg.station.id
    station = _station(cfg)
    line = station.parts.outputs[-1]
    line.start(None)
    assert line.wait_ready(10)
    line.alarm(Alarm("camera_offline", True, "camera reconnecting", sid, datetime.now(UTC)))
    # A late subscriber sees the raised alarm and `online`, both retained.
    collector = Collector(host, port, f"inspector/{sid}/#")
    try:
        assert collector.wait(lambda: collector.on("/alarm/camera_offline"), 10)
        alarm = collector.on("/alarm/camera_offline")[0]
        assert alarm["state"] == "raised" and alarm["message"] == "camera reconnecting"
        assert collector.wait(lambda: collector.on("/status") == ["online"], 5)
        # The connection vanishes without a goodbye: the broker publishes the last will.
        line._client.loop_stop()
        line._client.socket().close()
        assert collector.wait(lambda: collector.on("/status")[-1:] == ["offline"], 60)
    finally:
        collector.close()
        collector.publish  # noqa: B018 - the collector is closed; clear the retained alarm below
        line._closed.set()
    cleanup = Collector(host, port, "unused/none")
    cleanup.publish(f"inspector/{sid}/alarm/camera_offline", b"", qos=1)
    cleanup.publish(f"inspector/{sid}/status", b"", qos=1)
    cleanup.close()
