"""OpenCV cameras (USB, streams): grab thread with the newest frame, reconnects, watchdog."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from inspector.capture.base import FrameStamper, SourceHealth, SourceState
from inspector.domain import Frame
from inspector.errors import SourceError

logger = logging.getLogger(__name__)

READ_FAILURES_BEFORE_RECONNECT = 3   # one failed read can be a hiccup; three is a lost device
MAX_ABANDONED_THREADS = 3            # threads stuck in a driver call we stop replacing after this
DEFAULT_FPS = 30.0                   # when neither config nor driver reports a rate
_WATCH_PERIOD_S = 0.1                # how often a waiting read() re-checks the watchdog


class CaptureLike(Protocol):
    """The part of `cv2.VideoCapture` the grab thread uses; fakes implement this in tests."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def get(self, prop_id: int) -> float: ...
    def release(self) -> None: ...


CaptureFactory = Callable[[], CaptureLike]  # opens a fresh capture or raises SourceError


@dataclass(frozen=True)
class CameraPolicy:
    """How a camera is watched and reconnected."""

    reconnect_initial_s: float = 0.5
    reconnect_max_s: float = 10.0
    stale_after_frames: int = 30
    fps: float | None = None            # expected rate; None: ask the driver, else DEFAULT_FPS
    max_fps: float | None = None        # throttle the grab loop (captures that never block)
    detect_repeats: bool = True         # an identical frame is not a new frame (frozen feeds)
    is_live: bool = True
    close_timeout_s: float = 2.0


def backoff_delays(initial: float, maximum: float) -> Iterator[float]:
    """initial, 2*initial, 4*initial, ... capped at maximum."""
    delay = initial
    while True:
        yield min(delay, maximum)
        delay = min(delay * 2.0, maximum)


def _same_image(a: np.ndarray, b: np.ndarray) -> bool:
    # Cheap subsampled check first: live frames differ by sensor noise almost everywhere.
    return a.shape == b.shape and np.array_equal(a[::8, ::8], b[::8, ::8]) and np.array_equal(a, b)


class OpenCvCamera:
    """A live capture: a grab thread holds the newest frame; reconnects; stale-frame watchdog.

    The grab thread is the driver boundary and lives here, in capture: driver calls may block
    or lie after an unplug, so only this thread makes them, and the station only sees
    `read(timeout)`, which never waits longer than asked. Captures come from a factory:
    opencv_open.py (the one module that constructs `cv2.VideoCapture`) or a fake in tests.
    """

    def __init__(self, source_id: str, open_capture: CaptureFactory, policy: CameraPolicy) -> None:
        self.source_id = source_id
        self.is_live = policy.is_live
        self._open_capture = open_capture
        self._policy = policy
        self._stamper = FrameStamper(source_id)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._gen = 0
        self._thread: threading.Thread | None = None
        self._abandoned: list[threading.Thread] = []
        self._opened = False
        self._closed = False
        self._connected = False
        self._latest: Frame | None = None
        self._last_image: np.ndarray | None = None  # grab thread only: repeat detection
        self._latest_taken = True
        self._returned_id = 0
        self._last_new_t = time.monotonic()
        self._call: tuple[int, float] | None = None  # (generation, start) of a driver read
        self._interval = 1.0 / (policy.fps or DEFAULT_FPS)
        self._state = SourceState.RECONNECTING
        self._state_since = time.monotonic()
        self._attempts = 0
        self._skipped = 0
        self._superseded = 0
        self._last_error: str | None = None

    # -- public API -------------------------------------------------------------------------

    def open(self) -> None:
        """Start the grab thread; a missing camera is retried in the background, not raised."""
        with self._cond:
            if self._opened and not self._closed:
                return
            self._opened, self._closed = True, False
            self._stop.clear()
            self._last_new_t = time.monotonic()
            self._start_thread_locked()

    def read(self, timeout: float) -> Frame | None:
        """A frame newer than the last one returned, or None after `timeout` seconds."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            if not self._opened or self._closed:
                raise SourceError(f"{self.source_id}: read() on a source that is not open")
            while True:
                now = time.monotonic()
                self._watchdog_locked(now)
                frame = self._take_fresh_locked(now)
                if frame is not None:
                    return frame
                if now >= deadline:
                    return None
                self._cond.wait(min(deadline - now, _WATCH_PERIOD_S))

    def close(self) -> None:
        """Stop the grab thread (bounded wait); a thread stuck in the driver is left behind."""
        with self._cond:
            if not self._opened or self._closed:
                return
            self._closed = True
            self._gen += 1
            self._stop.set()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self._policy.close_timeout_s)
            if thread.is_alive():
                logger.warning("%s: grab thread still blocked in the driver; left behind",
                               self.source_id)
        with self._cond:
            self._update_state_locked(time.monotonic())

    def health(self) -> SourceHealth:
        with self._cond:
            now = time.monotonic()
            if self._opened and not self._closed:
                self._watchdog_locked(now)
            state = self._state
            return SourceHealth(
                online=state is SourceState.ONLINE,
                state=state,
                frames=self._stamper.count,
                reconnects=max(0, self._attempts - 1),
                last_frame_age_s=self._stamper.last_age(now),
                last_error=self._last_error,
                skipped=self._skipped,
                superseded=self._superseded,
                fps=self._stamper.fps if state is SourceState.ONLINE else None,
            )

    # -- consumer side (called with the lock held) --------------------------------------------

    def _window(self) -> float:
        return self._policy.stale_after_frames * self._interval

    def _take_fresh_locked(self, now: float) -> Frame | None:
        frame = self._latest
        if frame is None or self._latest_taken or frame.frame_id <= self._returned_id:
            return None
        self._latest_taken = True
        if now - frame.t_mono > self._window():
            self._superseded += 1  # too old to inspect: the part has moved on
            return None
        self._returned_id = frame.frame_id
        return frame

    def _watchdog_locked(self, now: float) -> None:
        self._update_state_locked(now)
        call = self._call
        if call is None or call[0] != self._gen or now - call[1] <= self._window():
            return
        self._abandoned = [t for t in self._abandoned if t.is_alive()]
        if len(self._abandoned) >= MAX_ABANDONED_THREADS:
            self._last_error = "grab threads stuck in the driver; not starting more"
            return
        logger.warning("%s: driver read blocked for %.1fs; abandoning it and reconnecting",
                       self.source_id, now - call[1])
        self._last_error = f"driver read blocked for {now - call[1]:.1f}s"
        if self._thread is not None:
            self._abandoned.append(self._thread)
        self._gen += 1
        self._connected = False
        self._call = None
        self._start_thread_locked()

    def _update_state_locked(self, now: float) -> None:
        if self._closed:
            new = SourceState.ENDED
        elif now - self._last_new_t > self._window():
            new = SourceState.CAMERA_OFFLINE
        elif not self._connected:
            new = SourceState.RECONNECTING
        else:
            new = SourceState.ONLINE
        if new is self._state:
            return
        old, since = self._state, self._state_since
        self._state, self._state_since = new, now
        reconnects = max(0, self._attempts - 1)
        if new is SourceState.CAMERA_OFFLINE:
            logger.warning("%s: camera_offline: no new frame for %.1fs (%s); reconnects so far %d",
                           self.source_id, now - self._last_new_t, self._last_error, reconnects)
        elif new is SourceState.ONLINE:
            logger.info("%s: online (was %s for %.1fs); reconnects so far %d",
                        self.source_id, old, now - since, reconnects)
        else:
            logger.info("%s: %s (was %s)", self.source_id, new, old)

    def _start_thread_locked(self) -> None:
        gen = self._gen
        self._thread = threading.Thread(
            target=self._run, args=(gen,), name=f"capture-{self.source_id}-{gen}", daemon=True
        )
        self._thread.start()

    # -- grab thread ------------------------------------------------------------------------

    def _current(self, gen: int) -> bool:
        return gen == self._gen and not self._stop.is_set()

    def _run(self, gen: int) -> None:
        delays = backoff_delays(self._policy.reconnect_initial_s, self._policy.reconnect_max_s)
        while self._current(gen):
            try:
                delivered = self._session(gen)
            except Exception as exc:  # the thread's top: log, count, and keep reconnecting
                logger.exception("%s: grab thread error", self.source_id)
                self._lost(f"grab error: {exc!r}")
                delivered = False
            if delivered:  # reset only after real frames, else a flapping device spins
                delays = backoff_delays(
                    self._policy.reconnect_initial_s, self._policy.reconnect_max_s
                )
            if self._current(gen):
                self._stop.wait(next(delays))

    def _session(self, gen: int) -> bool:
        """One connection: open, read until it fails, release. True if frames came."""
        cap = self._connect(gen)
        if cap is None:
            return False
        try:
            return self._pump(cap, gen)
        finally:
            cap.release()

    def _connect(self, gen: int) -> CaptureLike | None:
        with self._cond:
            self._attempts += 1
        try:
            cap = self._open_capture()
        except (SourceError, cv2.error, OSError) as exc:
            logger.debug("%s: open failed: %s", self.source_id, exc)
            self._note_error(str(exc))
            return None
        with self._cond:
            if not self._current(gen):
                cap.release()
                return None
            self._interval = 1.0 / self._frame_rate(cap)
            self._connected = True
            self._update_state_locked(time.monotonic())
        return cap

    def _frame_rate(self, cap: CaptureLike) -> float:
        if self._policy.fps:
            return self._policy.fps
        try:
            reported = float(cap.get(cv2.CAP_PROP_FPS))
        except (cv2.error, TypeError, ValueError):
            reported = 0.0
        return reported if 1.0 <= reported <= 1000.0 else DEFAULT_FPS

    def _pump(self, cap: CaptureLike, gen: int) -> bool:
        """Read until the device fails, freezes, or this thread is stopped/abandoned."""
        failures, delivered, last_new = 0, False, time.monotonic()
        while self._current(gen):
            ok, image = self._timed_read(cap, gen)
            now = time.monotonic()
            if not self._current(gen):
                break
            if not ok or image is None:
                failures += 1
                self._count_skipped()
                if failures >= READ_FAILURES_BEFORE_RECONNECT:
                    self._lost(f"{failures} consecutive failed reads")
                    break
                self._stop.wait(min(self._interval, 0.05))
                continue
            failures = 0
            # Compared across reconnects too: a reopened frozen device replays its old frame.
            previous = self._last_image
            if self._policy.detect_repeats and previous is not None and _same_image(previous,
                                                                                    image):
                if now - last_new > self._window():
                    self._lost("frozen feed: the same frame keeps coming")
                    break
                self._stop.wait(self._interval / 2)
                continue
            self._last_image, last_new, delivered = image, now, True
            self._publish(image, now)
            self._throttle(now)
        return delivered

    def _timed_read(self, cap: CaptureLike, gen: int) -> tuple[bool, np.ndarray | None]:
        with self._cond:
            self._call = (gen, time.monotonic())
        try:
            return cap.read()
        except cv2.error as exc:
            self._note_error(f"read raised {exc}")
            return False, None
        finally:
            with self._cond:
                if self._call is not None and self._call[0] == gen:
                    self._call = None

    def _publish(self, image: np.ndarray, t: float) -> None:
        frame = self._stamper.stamp(image, t_mono=t)
        with self._cond:
            if self._latest is not None and not self._latest_taken:
                self._superseded += 1
            self._latest, self._latest_taken = frame, False
            self._last_new_t = t
            self._update_state_locked(t)
            self._cond.notify_all()

    def _throttle(self, t: float) -> None:
        if self._policy.max_fps:
            self._stop.wait(max(0.0, t + 1.0 / self._policy.max_fps - time.monotonic()))

    def _lost(self, reason: str) -> None:
        logger.warning("%s: camera lost (%s); reconnecting with backoff", self.source_id, reason)
        with self._cond:
            self._connected = False
            self._last_error = reason
            self._update_state_locked(time.monotonic())

    def _note_error(self, message: str) -> None:
        with self._cond:
            self._last_error = message

    def _count_skipped(self) -> None:
        with self._cond:
            self._skipped += 1
