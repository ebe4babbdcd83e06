"""OpenCvCamera: newest frame only, reconnect with backoff, stale-frame watchdog, real file loss."""

from __future__ import annotations

import itertools
import logging
from functools import partial

import pytest

from inspector.capture import SourceState, UsbSourceConfig
from inspector.capture.opencv_camera import (
    CameraPolicy,
    OpenCvCamera,
    backoff_delays,
)
from inspector.capture.opencv_open import open_file_capture
from inspector.capture.usb import UsbCamera
from inspector.errors import SourceError

# 100 fps x 10 frames: the watchdog window is 0.1 s, so faults show within a second.
FAST = CameraPolicy(
    reconnect_initial_s=0.02, reconnect_max_s=0.08, stale_after_frames=10, fps=100.0,
    close_timeout_s=1.0,
)


@pytest.fixture
def camera(fake_device):
    cam = OpenCvCamera("fake", fake_device.factory, FAST)
    cam.open()
    yield cam
    fake_device.unblock()
    cam.close()


def _state(cam):
    return cam.health().state


def test_backoff_doubles_and_is_capped():
    assert list(itertools.islice(backoff_delays(0.5, 3.0), 6)) == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_read_hands_out_only_the_newest_frame(fake_device, wait_until):
    fake_device.limit = 10  # ten frames, then the driver blocks (no more frames)
    cam = OpenCvCamera("fake", fake_device.factory, CameraPolicy(stale_after_frames=100))
    cam.open()
    try:
        wait_until(lambda: fake_device.counter == 10, what="ten frames grabbed")
        frame = cam.read(1.0)
        assert fake_device.value_of(frame.image) == 10  # not frame 1: V4L2-style backlog dropped
        assert frame.frame_id == 10 and frame.source_id == "fake"
        assert frame.t_utc.tzinfo is not None
        assert cam.read(0.05) is None  # nothing newer than what we already have
        health = cam.health()
        assert health.frames == 10 and health.superseded == 9 and health.online
    finally:
        fake_device.unblock()
        cam.close()


def test_frames_keep_increasing(camera, wait_until):
    ids = []
    for _ in range(5):
        frame = camera.read(1.0)
        assert frame is not None
        ids.append(frame.frame_id)
    assert ids == sorted(set(ids))
    assert _state(camera) == SourceState.ONLINE


def test_device_loss_goes_offline_reconnects_with_backoff_and_recovers(
    fake_device, wait_until, caplog
):
    # Roomy for two loaded cores: a 0.1 s watchdog window (10 frames) let a scheduling stall
    # of the grab thread log a second camera_offline (1 run in 16 there), and backoff gaps of
    # 0.04 .. 0.16 s were within one such stall of each other.
    policy = CameraPolicy(
        reconnect_initial_s=0.05, reconnect_max_s=0.4, stale_after_frames=50, fps=100.0
    )
    camera = OpenCvCamera("fake", fake_device.factory, policy)
    camera.open()
    try:
        assert camera.read(1.0) is not None
        with caplog.at_level(logging.INFO, logger="inspector.capture.opencv_camera"):
            fake_device.mode = "absent"  # reads fail, reopening fails
            wait_until(lambda: _state(camera) == SourceState.CAMERA_OFFLINE, what="offline")
            wait_until(lambda: len(fake_device.opens) >= 5, what="reconnect attempts")
            health = camera.health()
            assert not health.online and health.reconnects >= 4
            assert "unplugged" in health.last_error
            # Attempts 1..4 after the loss are 0.1, 0.2, 0.4 s apart: backing off.
            gaps = [b - a for a, b in itertools.pairwise(fake_device.opens[1:5])]
            assert gaps[0] < gaps[-1]
            assert camera.read(0.0) is None  # no stale frame is handed out while offline
            fake_device.mode = "ok"
            wait_until(lambda: _state(camera) == SourceState.ONLINE, what="back online")
            assert camera.read(1.0) is not None
    finally:
        camera.close()
    offline_logs = [r for r in caplog.records if r.getMessage().startswith("fake: camera_offline")]
    assert len(offline_logs) == 1  # once per transition, not once per attempt
    assert any("online" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_frozen_feed_is_detected_and_the_camera_reopened(camera, fake_device, wait_until):
    first = camera.read(1.0)
    fake_device.mode = "frozen"  # the driver keeps "succeeding" with the same image
    wait_until(lambda: _state(camera) == SourceState.CAMERA_OFFLINE, what="camera_offline")
    opens = len(fake_device.opens)
    wait_until(lambda: len(fake_device.opens) > opens, what="reopen after freeze")
    assert "frozen" in camera.health().last_error
    fake_device.mode = "ok"
    wait_until(lambda: _state(camera) == SourceState.ONLINE, what="back online")
    frame = camera.read(1.0)
    assert frame.frame_id > first.frame_id
    assert fake_device.value_of(frame.image) > fake_device.value_of(first.image)


def test_blocked_driver_call_is_abandoned_and_recovers(camera, fake_device, wait_until):
    assert camera.read(1.0) is not None
    fake_device.mode = "block"  # read() never returns, as some drivers do after an unplug
    opens = len(fake_device.opens)
    wait_until(lambda: _state(camera) == SourceState.CAMERA_OFFLINE, what="camera_offline")
    wait_until(lambda: len(fake_device.opens) > opens, what="a fresh capture after the block")
    assert "blocked" in camera.health().last_error
    fake_device.mode = "ok"
    fake_device.unblock()
    wait_until(lambda: _state(camera) == SourceState.ONLINE, what="back online")
    assert camera.read(1.0) is not None


def test_camera_absent_at_start_is_retried_not_fatal(fake_device, wait_until):
    fake_device.mode = "absent"
    cam = OpenCvCamera("fake", fake_device.factory, FAST)
    cam.open()
    try:
        wait_until(lambda: _state(cam) == SourceState.CAMERA_OFFLINE, what="camera_offline")
        assert cam.read(0.05) is None
        fake_device.mode = "ok"
        assert cam.read(2.0) is not None
    finally:
        cam.close()


def test_close_stops_the_grab_thread(fake_device):
    cam = UsbCamera(UsbSourceConfig(type="usb", device=0), capture_factory=fake_device.factory)
    assert cam.source_id == "usb:0" and cam.is_live
    cam.open()
    assert cam.read(2.0) is not None
    thread = cam._thread
    cam.close()
    assert not thread.is_alive()
    assert cam.health().state == SourceState.ENDED
    with pytest.raises(SourceError):
        cam.read(0.1)


def test_real_videocapture_on_a_file_removed_and_restored(tmp_path, make_video, wait_until):
    path = make_video(tmp_path / "feed.avi", frames=10, fps=25)
    hidden = tmp_path / "feed.avi.away"
    policy = CameraPolicy(
        reconnect_initial_s=0.05, reconnect_max_s=0.2, stale_after_frames=10, fps=20.0,
        max_fps=100.0, close_timeout_s=1.0,
    )
    cam = OpenCvCamera("file-cam", partial(open_file_capture, path), policy)
    cam.open()
    try:
        first = cam.read(2.0)
        assert first is not None
        wait_until(lambda: _state(cam) == SourceState.ONLINE, what="online")
        path.rename(hidden)  # the "device" disappears: reads hit the end, reopening fails
        wait_until(lambda: _state(cam) == SourceState.CAMERA_OFFLINE, what="camera_offline")
        reconnects = cam.health().reconnects
        wait_until(lambda: cam.health().reconnects >= reconnects + 2, what="reconnect attempts")
        assert "does not exist" in cam.health().last_error
        hidden.rename(path)  # ... and comes back
        wait_until(lambda: _state(cam) == SourceState.ONLINE, what="back online")
        frame = cam.read(2.0)
        assert frame is not None and frame.frame_id > first.frame_id
        assert frame.image.shape == (48, 64, 3)
    finally:
        cam.close()


def test_close_returns_even_when_the_driver_never_does(fake_device, wait_until, caplog):
    policy = CameraPolicy(stale_after_frames=1000, fps=100.0, close_timeout_s=0.2)
    cam = OpenCvCamera("fake", fake_device.factory, policy)
    cam.open()
    assert cam.read(1.0) is not None
    fake_device.mode = "block"
    wait_until(lambda: fake_device.blocked_reads > 0, what="the grab thread stuck in read()")
    with caplog.at_level(logging.WARNING, logger="inspector.capture.opencv_camera"):
        cam.close()  # bounded by close_timeout_s; the stuck thread is a daemon left behind
    assert cam.health().state == SourceState.ENDED
    assert any("left behind" in r.getMessage() for r in caplog.records)


def test_unexpected_driver_exception_does_not_kill_the_grab_thread(fake_device, wait_until):
    calls = []

    def flaky_factory():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("driver bug")
        return fake_device.factory()

    cam = OpenCvCamera("fake", flaky_factory, FAST)
    cam.open()
    try:
        assert cam.read(2.0) is not None
        assert len(calls) >= 2
    finally:
        cam.close()
