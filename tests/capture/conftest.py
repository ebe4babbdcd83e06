"""Fixtures for capture tests: a scripted fake camera driver and synthetic videos and images."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.errors import SourceError


class FakeDevice:
    """A scripted camera behind the CaptureLike interface.

    mode: "ok" (new frames at fps), "fail" (reads fail), "absent" (reads fail, opens raise),
    "frozen" (reads succeed with the same image), "block" (reads hang until unblock()).
    `limit` stops producing new frames after that many (reads then block like "block").
    """

    def __init__(self, fps: float = 200.0, shape: tuple[int, int] = (24, 32)) -> None:
        self.fps = fps
        self.shape = shape
        self.mode = "ok"
        self.limit: int | None = None
        self.opens: list[float] = []      # monotonic time of every open attempt
        self.counter = 0                  # frames produced so far
        self.blocked_reads = 0            # reads that entered the blocking wait
        self._unblock = threading.Event()
        self._lock = threading.Lock()

    def factory(self) -> FakeCapture:
        self.opens.append(time.monotonic())
        if self.mode == "absent":
            raise SourceError("fake camera is unplugged")
        return FakeCapture(self)

    def unblock(self) -> None:
        self._unblock.set()

    def image(self, value: int) -> np.ndarray:
        img = np.zeros(self.shape, dtype=np.uint8)
        img.flat[:4] = np.frombuffer(int(value).to_bytes(4, "little"), dtype=np.uint8)
        return img

    @staticmethod
    def value_of(img: np.ndarray) -> int:
        return int.from_bytes(img.flat[:4].tobytes(), "little")

    def next_read(self) -> tuple[bool, np.ndarray | None]:
        held = self.limit is not None and self.counter >= self.limit
        if self.mode == "block" or held:
            self.blocked_reads += 1
            self._unblock.wait(10.0)
            return False, None
        time.sleep(1.0 / self.fps)
        if self.mode in ("fail", "absent"):
            return False, None
        with self._lock:
            if self.mode != "frozen" or self.counter == 0:
                self.counter += 1
            return True, self.image(self.counter)


class FakeCapture:
    def __init__(self, device: FakeDevice) -> None:
        self.device = device
        self.released = False

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.released:
            return False, None
        return self.device.next_read()

    def get(self, prop_id: int) -> float:
        return self.device.fps if prop_id == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released = True


@pytest.fixture
def fake_device() -> FakeDevice:
    device = FakeDevice()
    yield device
    device.unblock()  # let any thread stuck in a blocked read finish


@pytest.fixture
def wait_until() -> Callable[..., None]:
    def _wait(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")

    return _wait


def write_video(
    path: Path, frames: int, fps: float = 25.0, size: tuple[int, int] = (64, 48)
) -> Path:
    """An MJPG .avi whose frames are all different (frame i is uniformly gray level 20*i+10)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write MJPG avi here"
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (20 * i + 10) % 256, dtype=np.uint8)
        cv2.putText(img, str(i), (4, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 255, 255), 2)
        writer.write(img)
    writer.release()
    return path


@pytest.fixture
def make_video() -> Callable[..., Path]:
    return write_video


def write_image(path: Path, value: int, size: tuple[int, int] = (40, 30)) -> Path:
    img = np.full((size[1], size[0]), value, dtype=np.uint8)
    ok, data = cv2.imencode(path.suffix, img)
    assert ok
    path.write_bytes(data.tobytes())
    return path


@pytest.fixture
def make_image() -> Callable[..., Path]:
    return write_image
