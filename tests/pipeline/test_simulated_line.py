"""The real simulated line through the station: one row per passing part, serial from its code."""

from __future__ import annotations

from inspector.capture.config import SimulatedSourceConfig
from inspector.capture.simulated import SimulatedLine
from inspector.commands.demo import demo_config
from inspector.domain import SerialSource
from inspector.pipeline.serial_hook import build_serial_resolver
from inspector.pipeline.triggers import build_trigger

from .fakes import FakeStore


def test_presence_on_the_simulated_line_inspects_each_part_once(make_station, tmp_path):
    cfg = demo_config(tmp_path, tmp_path / "no-model")
    sim = SimulatedSourceConfig(**{**cfg.source.model_dump(), "realtime": False, "max_parts": 6})
    source = SimulatedLine(sim)
    store = FakeStore()
    station = make_station(source, store=store, trigger=build_trigger(cfg.trigger),
                           serials=build_serial_resolver(cfg.serial))
    station.start()
    assert station.wait(60)
    rows = list(store.rows.values())
    truth = [p.serial for p in source.parts]
    assert len(truth) == 6
    # Exactly one row per part that went by, each with the serial printed beside it.
    assert sorted(r.serial for r in rows) == sorted(truth)
    assert {r.serial_source for r in rows} == {SerialSource.CODE}
