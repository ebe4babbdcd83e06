"""Never block, never lose: results survive a broker outage and a restart, none sent twice."""

from __future__ import annotations

import json
import os
import threading
import time

from inspector.commands.api_server import station_api
from inspector.pipeline.station import Station
from inspector.storage.delivery import DeliveryStore
from inspector.storage.store import InspectionStore
from tests.lineio.helpers import Collector, Mosquitto, TcpCut, broker, station_config
from tests.pipeline.fakes import FakeClassifier
from tests.rows import stored_rows


def _station(cfg) -> Station:
    return Station.from_config(cfg, FakeClassifier(), store=InspectionStore.open(cfg.db_url()))


def _trigger(station: Station, first: int, count: int, pace_s: float = 0.0) -> None:
    for i in range(first, first + count):
        station.trigger(f"SN-{i:04d}")
        if pace_s:
            time.sleep(pace_s)


def _line_cfg(port: int) -> dict:
    return {"port": port, "triggers": False, "reconnect_max_s": 1, "save_interval_s": 0.2}


def test_results_made_while_the_broker_is_unreachable_all_arrive_after(tmp_path):
    """Every result arrives, none twice: the station resumes its session after the cut, so QoS 2
    results in flight are completed (PUBREL) rather than published again."""
    host, port = broker()
    cut = TcpCut(host, port)
    cfg = station_config(tmp_path, {"host": "127.0.0.1", **_line_cfg(cut.port)})
    collector = Collector(host, port, f"inspector/{cfg.station.id}/result")
    station = _station(cfg)
    line = station.parts.outputs[-1]
    try:
        with station_api(cfg, station):
            station.start()
            assert line.wait_ready(10)
            _trigger(station, 0, 200, pace_s=0.002)
            assert collector.wait(lambda: len(collector.part_ids()) == 200, 30)
            cut.down()
            t0 = time.monotonic()
            _trigger(station, 200, 300, pace_s=0.002)  # the line goes on while nothing listens
            assert collector.wait(lambda: station.metrics().rows_committed >= 500, 30)
            outage_s = time.monotonic() - t0
            assert collector.wait(lambda: line.state().backlog >= 250, 5)
            assert not line.state().connected
            time.sleep(max(0.0, 3.0 - outage_s))
            cut.up()
            _trigger(station, 500, 100, pace_s=0.002)
            assert collector.wait(lambda: len(collector.part_ids()) == 600, 60)
            assert collector.wait(lambda: line.state().backlog == 0, 10)
            assert station.stop(30)
    finally:
        collector.close()
        cut.down()
    rows = stored_rows(tmp_path / "data")
    ids = collector.part_ids()
    assert len(rows) == 600 and set(ids) == {r.part_id for r in rows}
    assert max(ids.values()) == 1, [p for p, n in ids.items() if n > 1]
    assert line.sessions_lost == 0


def test_1000_triggers_across_a_broker_restart_give_every_result_once(tmp_path):
    """The broker stops mid-run (its state saved) and starts again: the station resumes its
    session, so QoS 2 results in flight are completed, not sent again; a consumer with a session
    of its own gets what it missed. 1,000 triggers -> 1,000 rows -> 1,000 results, none twice."""
    broker()  # INSPECTOR_TEST_MQTT says this machine runs Mosquitto
    mosq = Mosquitto(tmp_path / "broker")
    cfg = station_config(tmp_path, {"port": mosq.port, **_line_cfg(mosq.port), "triggers": True})
    sid = cfg.station.id
    consumer = Collector("127.0.0.1", mosq.port, f"inspector/{sid}/result", qos=2,
                         session_expiry_s=600)
    plc = Collector("127.0.0.1", mosq.port, f"inspector/{sid}/trigger/error", qos=1,
                    session_expiry_s=600)
    station = _station(cfg)
    line = station.parts.outputs[-1]
    seen: dict = {}

    def publish_triggers() -> None:  # the PLC goes on through the outage (paho queues them)
        for i in range(1000):
            plc.publish(f"inspector/{sid}/trigger",
                        json.dumps({"serial": f"SN-{i:04d}", "part_ref": f"R{i}"}), qos=1)
            time.sleep(0.004)

    try:
        with station_api(cfg, station):
            station.start()
            assert line.wait_ready(10)
            pacer = threading.Thread(target=publish_triggers)
            pacer.start()
            assert consumer.wait(lambda: len(consumer.part_ids()) >= 250, 30)
            mosq.stop()
            seen["sent_at_stop"] = line.state().sent
            assert consumer.wait(lambda: not line.state().connected, 5)
            time.sleep(float(os.environ.get("INSPECTOR_TEST_MQTT_OUTAGE_S", "3")))  # 30: the issue's
            seen["backlog"] = line.state().backlog
            mosq.start()
            pacer.join(30)
            assert consumer.wait(lambda: len(consumer.part_ids()) == 1000, 60)
            assert consumer.wait(lambda: line.state().backlog == 0, 10)
            time.sleep(1.0)  # a late second copy would come now
            assert station.stop(30)
    finally:
        consumer.close()
        plc.close()
        mosq.stop()
    rows = stored_rows(tmp_path / "data")
    ids = consumer.part_ids()
    assert len(rows) == 1000 and {r.part_ref for r in rows} == {f"R{i}" for i in range(1000)}
    assert set(ids) == {r.part_id for r in rows}
    assert len(consumer.on("/result")) == 1000, [p for p, n in ids.items() if n > 1][:10]
    assert seen["backlog"] > 0  # the outage held results back
    assert line.sessions_lost == 0 and line.state().delivered >= 1000
    assert not consumer.on("/trigger/error") and not plc.on("/trigger/error")


def test_a_restart_sends_what_the_last_run_could_not_and_nothing_twice(tmp_path):
    host, port = broker()
    cut = TcpCut(host, port)
    cut.down()  # the first run never reaches the broker
    cfg = station_config(tmp_path, {"host": "127.0.0.1", **_line_cfg(cut.port)})
    sid = cfg.station.id
    collector = Collector(host, port, f"inspector/{sid}/result")
    try:
        first = _station(cfg)
        with station_api(cfg, first):
            first.start()
            _trigger(first, 0, 200)
            assert first.stop(30)
        assert first.parts.outputs[-1].state().delivered == 0
        cut.up()
        second = _station(cfg)
        with station_api(cfg, second):
            second.start()
            assert collector.wait(lambda: len(collector.part_ids()) == 200, 30)
            _trigger(second, 200, 50)
            assert collector.wait(lambda: len(collector.part_ids()) == 250, 30)
            assert second.stop(30)
        third = _station(cfg)  # a clean stop saved the cursor: nothing is sent again
        with station_api(cfg, third):
            third.start()
            assert third.parts.outputs[-1].wait_ready(10)
            time.sleep(1.0)
            assert third.stop(30)
        time.sleep(0.5)
    finally:
        collector.close()
        cut.down()
    ids = collector.part_ids()
    assert len(ids) == 250 and max(ids.values()) == 1
    assert set(ids) == {r.part_id for r in stored_rows(tmp_path / "data")}
    seqs = [m["seq"] for m in collector.on("/result")]
    assert seqs == sorted(seqs)
    store = DeliveryStore.open(cfg.db_url())
    try:
        assert store.cursor(sid, "mqtt") == store.last_id(sid) == max(seqs)
    finally:
        store.close()


def test_a_new_output_starts_after_the_rows_already_stored(tmp_path):
    cfg = station_config(tmp_path, {"port": 1, "triggers": False})
    station = Station.from_config(cfg, FakeClassifier(), store=InspectionStore.open(cfg.db_url()))
    station.parts.outputs = []  # a first run without the line
    with station_api(cfg, station):
        station.start()
        _trigger(station, 0, 20)
        assert station.stop(30)
    store = DeliveryStore.open(cfg.db_url())
    try:
        assert store.cursor(cfg.station.id, "mqtt") is None
        last = store.last_id(cfg.station.id)
        assert last > 0 and len(store.rows_after(cfg.station.id, 0, 100)) == 20
        line_station = _station(cfg)
        line = line_station.parts.outputs[-1]
        line.start(None)
        assert line.sender.ready.wait(10)
        line.close()
        assert store.cursor(cfg.station.id, "mqtt") == last  # old rows are not flooded out
    finally:
        store.close()
