"""station.trigger(): the frame nearest the trigger time is inspected, or a no_frame row."""

from __future__ import annotations

import time

import pytest

from inspector.config import ExternalTrigger
from inspector.domain import SerialSource, Status, Verdict
from inspector.pipeline.station import StationStateError
from inspector.pipeline.triggers import ExternalPolicy

from .fakes import FakeSource, FakeStore, gray


def test_external_trigger_picks_nearest_frame_then_no_frame_when_feed_frozen(make_station):
    store = FakeStore()
    source = FakeSource([gray(i * 5) for i in range(30)], live=True, pace_s=0.02, end=False)
    policy = ExternalPolicy(ExternalTrigger(type="external", max_skew_s=0.05))
    # A roomy frame ring: no frame near the trigger time may be dropped before it is seen.
    station = make_station(source, store=store, trigger=policy, settings={"frames_queue": 64})
    station.start()
    while len(source.delivered) < 10:
        time.sleep(0.005)
    t = time.monotonic()
    hit = station.trigger(serial="SN-A", t=t)
    while len(source.delivered) < 30:
        time.sleep(0.005)
    time.sleep(0.1)  # the feed is frozen now: no frame will come near the next trigger
    miss = station.trigger(serial="SN-B")
    while station.metrics().parts < 2:
        time.sleep(0.01)
    assert station.stop(10)
    rows = store.rows
    assert set(rows) == {hit, miss}
    nearest = min(source.delivered, key=lambda f: abs(f.t_mono - t))
    assert rows[hit].status is Status.OK and rows[hit].captured_at == nearest.t_utc
    assert (rows[hit].serial, rows[hit].serial_source) == ("SN-A", SerialSource.TRIGGER)
    assert rows[miss].status is Status.NO_FRAME and rows[miss].verdict is Verdict.REVIEW
    assert rows[miss].serial == "SN-B"
    with pytest.raises(StationStateError, match="not running"):
        station.trigger("late")


def test_triggers_pending_at_stop_still_get_rows(make_station):
    store = FakeStore()
    source = FakeSource([gray(1)], live=True, end=False)
    policy = ExternalPolicy(ExternalTrigger(type="external", max_skew_s=5.0))
    station = make_station(source, store=store, trigger=policy)
    station.start()
    ids = [station.trigger(serial=f"S{i}", t=time.monotonic() + 1) for i in range(5)]
    assert station.stop(10)
    assert set(store.rows) == set(ids)
