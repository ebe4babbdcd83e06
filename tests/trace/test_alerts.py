"""Predictive alerts: the CUSUM fires on a rising rate before it doubles, stays quiet on a stable line."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inspector.domain import Alarm, Inspection, SerialSource, Status, Verdict
from inspector.storage.alerts import AlertStore
from inspector.storage.store import InspectionStore
from inspector.trace.alerting import DefectRateWatch
from inspector.trace.config import AlertsConfig
from inspector.trace.monitor import RateMonitor, _arl, design
from inspector.trace.timelines import RisingLine

SEEDS = 20
LINE = RisingLine(stable=10_000, ramp=8_000, base_rate=0.02, factor=3.0)


def _first_alert(flags: np.ndarray, line: RisingLine) -> int | None:
    """Part index of the first alert, the monitor designed on the line's stable stretch."""
    base = flags[:line.stable]
    plan = design(line.stable, int(base.sum()), 1.5, line.ramp, 0.05)
    serials = [str(i) for i in range(line.stable, line.parts)]
    changes = RateMonitor("st-1", "crack", plan).update(flags[line.stable:], serials)
    raised = [c for c in changes if c.raised]
    return int(raised[0].serial) if raised else None


def test_a_rising_rate_raises_an_alert_before_it_doubles_in_18_of_20_seeds() -> None:
    doubled = LINE.doubled_at()
    assert doubled == LINE.stable + LINE.ramp // 2
    first = [_first_alert(flags, LINE) for flags in LINE.draw(SEEDS)]
    assert sum(f is not None and f < doubled for f in first) >= 18


def test_a_stable_line_raises_an_alert_in_at_most_1_of_20_seeds() -> None:
    stable = RisingLine(stable=LINE.stable, ramp=LINE.ramp, factor=1.0)
    assert sum(_first_alert(flags, stable) is not None for flags in stable.draw(SEEDS)) <= 1


def test_the_threshold_keeps_the_stated_false_alarm_rate() -> None:
    plan = design(10_000, 200, shift=1.5, horizon=8_000, false_alarm=0.05)
    assert plan.false_alarm_at_p0 <= 0.05          # the baseline's uncertainty adds margin
    assert plan.arl0 >= 8_000 / 0.0513
    tighter = design(10_000, 200, shift=1.5, horizon=8_000, false_alarm=0.01)
    assert tighter.h > plan.h
    with pytest.raises(ValueError, match="baseline"):
        design(0, 0)


def test_the_markov_chain_run_length_matches_simulation() -> None:
    """ARL of a small CUSUM (p0 = 0.1, a 2x shift, h = 8 grid units) against 4,000 runs."""
    rng = np.random.default_rng(0)
    w1, w0 = np.log(2.0), np.log(0.8 / 0.9)
    h = 8 * (-w0 / 2)
    s, alive, length = np.zeros(4000), np.ones(4000, dtype=bool), np.zeros(4000)
    for t in range(1, 5000):
        s[alive] = np.maximum(0, s[alive] + np.where(rng.random(alive.sum()) < 0.1, w1, w0))
        done = alive & (s >= h - 1e-9)
        length[done], alive = t, alive & ~done
        if not alive.any():
            break
    assert _arl(0.1, 0.1, 2.0, 8) == pytest.approx(length.mean(), rel=0.1)


def test_batches_give_the_same_alerts_as_one_stream() -> None:
    flags = LINE.draw(1)[0][LINE.stable:]
    serials = [str(i) for i in range(flags.size)]
    plan = design(10_000, 200, 1.5, 8_000, 0.05)
    whole = RateMonitor("st-1", None, plan).update(flags, serials)
    monitor, pieces = RateMonitor("st-1", None, plan), []
    for start in range(0, flags.size, 37):
        pieces += monitor.update(flags[start:start + 37], serials[start:start + 37])
    assert [(c.raised, c.serial) for c in whole] == [(c.raised, c.serial) for c in pieces]
    assert whole and whole[0].raised
    alert = whole[0].alert
    assert alert is not None and alert.parts > 0 and alert.defects > 0
    assert alert.current > alert.baseline and alert.statistic >= alert.threshold


def _rows(flags: np.ndarray, start: int, t0: datetime, label: str = "crack") -> list[Inspection]:
    return [Inspection(
        part_id=f"st-1-P{start + i:06d}", station_id="st-1", serial=f"P{start + i:06d}",
        serial_source=SerialSource.CODE, captured_at=t0 + timedelta(seconds=start + i),
        inspected_at=t0 + timedelta(seconds=start + i), status=Status.OK,
        verdict=Verdict.NG if bad else Verdict.OK, label=label if bad else "free",
        defect_score=0.9 if bad else 0.1, scores={}, model_version="m")
        for i, bad in enumerate(flags)]


class AlarmLog:
    """A line output that only records the alarms it is told (the MQTT line's role)."""

    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def alarm(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)


def test_the_station_watch_stores_and_announces_an_alert_with_its_evidence(
    store: InspectionStore,
) -> None:
    t0 = datetime(2024, 6, 3, 6, tzinfo=UTC)
    rng = np.random.default_rng(3)
    history = rng.random(2_000) < 0.02
    store.write(_rows(history, 0, t0))                  # the baseline, before the run
    alerts, line = AlertStore(store.engine), AlarmLog()
    watch = DefectRateWatch("st-1", AlertsConfig(enabled=True, baseline_parts=2_000,
                                                 horizon_parts=2_000), alerts, [line])
    rising = rng.random(1_500) < np.linspace(0.02, 0.12, 1_500)
    for start in range(0, rising.size, 50):             # the writer's batches
        watch("committed", _rows(rising[start:start + 50], 2_000 + start, t0))
    raised = [a for a in line.alarms if a.active]
    assert {a.kind for a in raised} >= {"defect_rate_crack", "defect_rate_ng"}
    crack = next(a for a in raised if a.kind == "defect_rate_crack")
    assert crack.details is not None and crack.details["defects"] > 0
    assert crack.details["method"] == "bernoulli_cusum"
    assert "crack rate at st-1 is rising" in crack.message
    page, _ = alerts.list(station_id="st-1")
    stored = next(a for a in page if a.defect_class == "crack")
    assert stored.id == crack.details["id"] and stored.cleared_at is None
    assert stored.last_serial is not None and stored.first_serial is not None
    assert stored.current > stored.baseline and stored.parts >= stored.defects > 0
    calm = np.zeros(3_000, dtype=bool)                  # the rate falls back: cleared once
    watch("committed", _rows(calm, 4_000, t0))
    assert any(not a.active and a.kind == "defect_rate_crack" for a in line.alarms)
    assert alerts.list(station_id="st-1", active=False)[0]


def test_a_short_history_learns_the_baseline_first(store: InspectionStore) -> None:
    t0 = datetime(2024, 6, 3, 6, tzinfo=UTC)
    watch = DefectRateWatch("st-1", AlertsConfig(enabled=True, baseline_parts=500),
                            AlertStore(store.engine))
    flags = np.random.default_rng(1).random(400) < 0.02
    watch("committed", _rows(flags, 0, t0))
    assert watch.monitors == {}                         # still learning
    watch("committed", _rows(flags, 400, t0))           # 100 complete it, 300 are watched
    assert None in watch.monitors and watch.baseline.parts == 500
    assert watch.monitors[None].parts == 300
    watch("journaled", _rows(flags, 800, t0))           # not stored yet: not counted
    assert watch.monitors[None].parts == 300


def test_an_alert_is_published_on_the_station_alarm_topic_with_its_evidence(
    store: InspectionStore, tmp_path,
) -> None:
    """The MQTT line the station already has publishes it (retained), no client of its own."""
    from inspector.lineio.base import LineContext
    from inspector.lineio.config import MqttLineConfig
    from inspector.lineio.mqtt import MqttLine
    from tests.lineio.helpers import Collector, broker

    host, port = broker()
    sid = f"a{uuid.uuid4().hex[:10]}"
    line = MqttLine(MqttLineConfig(type="mqtt", host=host, port=port, triggers=False,
                                   results=False), LineContext(sid, f"sqlite:///{tmp_path}/l.db"))
    line.start(None)
    assert line.wait_ready(10)
    t0 = datetime(2024, 6, 3, 6, tzinfo=UTC)
    watch = DefectRateWatch(sid, AlertsConfig(enabled=True, baseline_parts=1_000,
                                              horizon_parts=1_000, classes=["crack"]),
                            AlertStore(store.engine), [line])
    rng = np.random.default_rng(5)
    watch("committed", _rows(rng.random(1_000) < 0.02, 0, t0))
    watch("committed", _rows(rng.random(600) < 0.15, 1_000, t0))
    collector = Collector(host, port, f"inspector/{sid}/alarm/#")
    try:
        assert collector.wait(lambda: collector.on("/alarm/defect_rate_crack"), 10)
        message = collector.on("/alarm/defect_rate_crack")[0]
        assert isinstance(message, dict) and message["state"] == "raised"
        details = message["details"]
        assert details["defects"] > 0 and details["threshold"] > 0
        assert details["baseline"] < details["current"]
    finally:
        collector.close()
        line.close()
        cleanup = Collector(host, port, "unused/none")
        for kind in ("defect_rate_crack", "defect_rate_ng"):
            cleanup.publish(f"inspector/{sid}/alarm/{kind}", b"", qos=1)
        cleanup.close()


def test_a_scan_of_a_stored_history_finds_the_rise_once_however_often_it_runs(
    store: InspectionStore, tmp_path,
) -> None:
    from typer.testing import CliRunner

    from inspector.cli import app
    from inspector.trace.alerting import scan_history

    t0 = datetime(2024, 6, 3, 6, tzinfo=UTC)
    rng = np.random.default_rng(8)
    store.write(_rows(rng.random(2_000) < 0.02, 0, t0))
    store.write(_rows(rng.random(1_500) < np.linspace(0.02, 0.12, 1_500), 2_000, t0))
    alerts = AlertStore(store.engine)
    cfg = AlertsConfig(enabled=True, baseline_parts=2_000, horizon_parts=1_500,
                       classes=["crack"])
    until = t0 + timedelta(days=1)
    found = list(scan_history(alerts, "st-1", t0, until, cfg, chunk=700))
    crack = [a for a in found if a.defect_class == "crack"]
    assert crack and alerts.list()[0] == []                  # reported, not stored
    first = crack[0]
    assert first.raised_at == t0 + timedelta(seconds=int(first.last_serial[1:]))
    assert 2_000 < int(first.last_serial[1:]) < 3_500
    for _ in range(2):
        kept = list(scan_history(alerts, "st-1", t0, until, cfg, keep=True))
        assert len(kept) == len(found)
    assert len(alerts.list()[0]) == len(found)               # stored once
    url = str(store.engine.url)
    runner = CliRunner()
    result = runner.invoke(app, ["alerts-scan", "--station-id", "st-1", "--since",
                                 t0.isoformat(), "--baseline-parts", "2000", "--horizon-parts",
                                 "1500", "--db", url])
    assert result.exit_code == 0, result.output
    assert "crack rate at st-1 is rising" in result.output
    bad = runner.invoke(app, ["alerts-scan", "--station-id", "st-1", "--since", "yesterday",
                              "--db", url])
    assert bad.exit_code == 2 and "is not ISO 8601" in bad.output


def test_a_station_with_alerts_on_feeds_its_stored_rows_to_the_watch(tmp_path) -> None:
    """trace.alerts.enabled: the watch listens to the store writer and tells the MQTT line."""
    from inspector.lineio.mqtt import MqttLine
    from inspector.pipeline.station import Station
    from tests.lineio.helpers import station_config
    from tests.pipeline.fakes import FakeClassifier

    on = station_config(tmp_path, {"port": 1}, trace={"alerts": {"enabled": True}})
    station = Station.from_config(on, FakeClassifier())
    watches = [w for w in station._listeners if isinstance(w, DefectRateWatch)]
    assert len(watches) == 1 and watches[0].station_id == on.station.id
    assert any(isinstance(o, MqttLine) for o in watches[0].outputs)
    off = station_config(tmp_path, {"port": 1})
    assert not any(isinstance(w, DefectRateWatch)
                   for w in Station.from_config(off, FakeClassifier())._listeners)
