"""A camera that fails, freezes and returns: the station reports it and keeps running."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from inspector.capture.base import SourceHealth, SourceState
from inspector.domain import Frame
from inspector.errors import SourceError

from .fakes import FakeStore, gray


class FlakyCamera:
    """Frames, then read errors, then a frozen feed (None, offline), then frames again."""

    is_live = True
    source_id = "flaky"

    def __init__(self) -> None:
        self.script = ["frame"] * 5 + ["error"] * 2 + ["frozen"] * 30 + ["frame"] * 5
        self.i = 0
        self.state = SourceState.ONLINE
        self.offline_seen = False

    def open(self) -> None:
        pass

    def read(self, timeout: float) -> Frame | None:
        if self.i >= len(self.script):
            time.sleep(0.005)
            return None
        step = self.script[self.i]
        self.i += 1
        if step == "error":
            self.state = SourceState.RECONNECTING
            raise SourceError("camera unplugged")
        if step == "frozen":
            self.state = SourceState.CAMERA_OFFLINE
            time.sleep(0.005)
            return None
        self.state = SourceState.ONLINE
        return Frame(gray(100), self.i, self.source_id, time.monotonic(), datetime.now(UTC))

    def close(self) -> None:
        pass

    def health(self) -> SourceHealth:
        return SourceHealth(online=self.state is SourceState.ONLINE, state=self.state,
                            frames=self.i, reconnects=2, last_frame_age_s=None,
                            last_error="camera unplugged")


def test_station_reports_camera_offline_and_keeps_running(make_station):
    camera, store = FlakyCamera(), FakeStore()
    station = make_station(camera, store=store)
    station.start()
    states = set()
    deadline = time.monotonic() + 10
    while camera.i < len(camera.script) and time.monotonic() < deadline:
        states.add(station.metrics().camera_state)
        time.sleep(0.002)
    while station.metrics().frames_captured < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert station.running
    assert station.stop(10)
    m = station.metrics()
    assert "camera_offline" in states
    # Frames before and after the outage: each one a part, or dropped (live ring) and counted.
    assert m.frames_captured == 10 == len(store.rows) + m.dropped_frames
    assert len(store.rows) >= 2 and m.parts == len(store.rows)
    assert m.last_error == "camera unplugged" and m.camera_reconnects == 2
