"""The FrameSource protocol, its health snapshot, and the frame stamping every source shares."""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import numpy as np

from inspector.domain import Frame


class SourceState(enum.StrEnum):
    """Where a source stands; a StrEnum so `state == "camera_offline"` reads naturally."""

    ONLINE = "online"                  # new frames arrive (or a finite source is delivering)
    CAMERA_OFFLINE = "camera_offline"  # no new frame for the stale window: lost, frozen or blocked
    RECONNECTING = "reconnecting"      # the device was lost and is being reopened with backoff
    ENDED = "ended"                    # a finite source reached its end, or the source was closed


@dataclass(frozen=True)
class SourceHealth:
    """A snapshot of one source, safe to hand to metrics and the API from any thread."""

    online: bool
    state: SourceState
    frames: int                       # frames delivered (live: new frames grabbed)
    reconnects: int                   # reconnect attempts since open (successful or not)
    last_frame_age_s: float | None    # seconds since the newest frame, None before the first
    last_error: str | None
    skipped: int = 0                  # unreadable inputs skipped (corrupt images, failed reads)
    superseded: int = 0               # frames replaced by a newer one before anyone read them
    fps: float | None = None          # measured rate of new frames (live sources)


@runtime_checkable
class FrameSource(Protocol):
    """A camera, file or simulation that hands out frames; one instance per source."""

    source_id: str
    is_live: bool  # live: the consumer drops oldest; file/folder: it waits, so replays repeat

    def open(self) -> None:
        """Acquire the device or file; raises SourceError when the source cannot exist."""
        ...

    def read(self, timeout: float) -> Frame | None:
        """The next frame, None when no new frame came within timeout; EndOfSource at the end."""
        ...

    def close(self) -> None:
        """Release the device and stop any thread, within a bounded time."""
        ...

    def health(self) -> SourceHealth:
        """A consistent snapshot of state and counters."""
        ...


class FrameStamper:
    """Gives frames of one source increasing ids and capture timestamps; thread-safe."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self._lock = threading.Lock()
        self._next_id = 1
        self._last_mono: float | None = None
        self._rate = RateMeter()

    def stamp(
        self,
        image: np.ndarray,
        *,
        name: str | None = None,
        serial_hint: str | None = None,
        t_mono: float | None = None,
        ref: str | None = None,
        problem: str | None = None,
    ) -> Frame:
        """Wrap an image as the next Frame of this source (t_mono defaults to now)."""
        mono = time.monotonic() if t_mono is None else t_mono
        utc = datetime.now(UTC)
        with self._lock:
            frame_id = self._next_id
            self._next_id += 1
            self._last_mono = mono
            self._rate.tick(mono)
        return Frame(
            image=image,
            frame_id=frame_id,
            source_id=self.source_id,
            t_mono=mono,
            t_utc=utc,
            name=name,
            serial_hint=serial_hint,
            ref=ref,
            problem=problem,
        )

    @property
    def count(self) -> int:
        with self._lock:
            return self._next_id - 1

    def last_age(self, now: float | None = None) -> float | None:
        """Seconds since the last stamped frame, None before the first."""
        with self._lock:
            last = self._last_mono
        if last is None:
            return None
        return max(0.0, (time.monotonic() if now is None else now) - last)

    @property
    def fps(self) -> float | None:
        with self._lock:
            return self._rate.value


class RateMeter:
    """Exponentially smoothed event rate; not thread-safe (callers hold their own lock)."""

    def __init__(self, alpha: float = 0.1) -> None:
        self._alpha = alpha
        self._last: float | None = None
        self._interval: float | None = None

    def tick(self, t: float) -> None:
        if self._last is not None and t > self._last:
            dt = t - self._last
            self._interval = dt if self._interval is None else (
                self._interval + self._alpha * (dt - self._interval)
            )
        self._last = t

    @property
    def value(self) -> float | None:
        if not self._interval:
            return None
        return 1.0 / self._interval


def finite_health(
    stamper: FrameStamper,
    *,
    opened: bool,
    ended: bool,
    skipped: int = 0,
    superseded: int = 0,
    last_error: str | None = None,
) -> SourceHealth:
    """Health of a file, folder or simulated source: online between open and its end."""
    if ended:
        state = SourceState.ENDED
    elif opened:
        state = SourceState.ONLINE
    else:
        state = SourceState.CAMERA_OFFLINE
        last_error = last_error or "not open"
    return SourceHealth(
        online=state is SourceState.ONLINE,
        state=state,
        frames=stamper.count,
        reconnects=0,
        last_frame_age_s=stamper.last_age(),
        last_error=last_error,
        skipped=skipped,
        superseded=superseded,
        fps=stamper.fps if state is SourceState.ONLINE else None,
    )
