"""Trigger policies: decide which frames are parts (per_frame, presence, external requests)."""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from inspector.config import ExternalTrigger, PerFrameTrigger, PresenceTrigger, TriggerConfig
from inspector.domain import Frame, Trigger
from inspector.pipeline.presence import PresenceDetector

logger = logging.getLogger(__name__)


def new_part_id() -> str:
    """A unique, time-sortable part id: 12 hex digits of epoch ms + 16 random hex digits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(8)}"


def trigger_for(frame: Frame, kind: str, serial: str | None = None) -> Trigger:
    """A Trigger for a part seen on `frame` (time of the part = time of the frame)."""
    return Trigger(
        part_id=new_part_id(),
        t_mono=frame.t_mono,
        t_utc=frame.t_utc,
        kind=kind,
        serial=serial,
        frame=frame,
    )


@dataclass(frozen=True)
class TriggerRequest:
    """An external trigger as it arrives from station.trigger(): the part id is fixed already."""

    part_id: str
    t_mono: float
    t_utc: datetime
    serial: str | None = None
    part_ref: str | None = None  # the PLC/MES reference of the part (idempotency key)


class TriggerPolicy(Protocol):
    """Turns the frame stream (and external requests) into Triggers; used by one thread only."""

    kind: str
    accepts_requests: bool

    def feed(self, frame: Frame) -> list[Trigger]:
        """A new frame arrived; return the parts it completes."""
        ...

    def request(self, req: TriggerRequest) -> list[Trigger]:
        """An external trigger arrived; return the parts resolved now."""
        ...

    def poll(self, now: float) -> list[Trigger]:
        """Time passed without frames; return parts whose wait ran out."""
        ...

    def flush(self) -> list[Trigger]:
        """The stream ended: resolve everything still pending."""
        ...


class _NoRequests:
    accepts_requests = False

    def request(self, req: TriggerRequest) -> list[Trigger]:
        raise NotImplementedError("this trigger does not take external requests")

    def poll(self, now: float) -> list[Trigger]:
        return []

    def flush(self) -> list[Trigger]:
        return []


class PerFramePolicy(_NoRequests):
    """Every frame is a part."""

    kind = "per_frame"

    def feed(self, frame: Frame) -> list[Trigger]:
        return [trigger_for(frame, self.kind)]


class PresencePolicy(_NoRequests):
    """A part entering the ROI is inspected once when it settles; re-arms when the ROI empties."""

    kind = "presence"

    def __init__(self, cfg: PresenceTrigger) -> None:
        self.detector = PresenceDetector(cfg)

    def feed(self, frame: Frame) -> list[Trigger]:
        chosen = self.detector.update(frame)
        return [] if chosen is None else [trigger_for(chosen, self.kind)]


class ExternalPolicy:
    """Matches each trigger request with the buffered frame nearest its time.

    A request waits until a frame at or after its time has arrived (a later frame could be
    nearer) or until its time plus `max_skew_s` has passed; no frame within the skew gives
    a Trigger without a frame, which the station records as `no_frame`.
    """

    kind = "external"
    accepts_requests = True

    def __init__(self, cfg: ExternalTrigger) -> None:
        self.max_skew_s = cfg.max_skew_s
        self.history: deque[Frame] = deque(maxlen=cfg.history_frames)
        self.pending: list[TriggerRequest] = []

    def feed(self, frame: Frame) -> list[Trigger]:
        self.history.append(frame)
        return self._resolve(lambda req: frame.t_mono >= req.t_mono)

    def request(self, req: TriggerRequest) -> list[Trigger]:
        self.pending.append(req)
        newest = self.history[-1].t_mono if self.history else None
        return self._resolve(lambda r: r is req and newest is not None and newest >= r.t_mono)

    def poll(self, now: float) -> list[Trigger]:
        return self._resolve(lambda req: now > req.t_mono + self.max_skew_s)

    def flush(self) -> list[Trigger]:
        return self._resolve(lambda req: True)

    def _resolve(self, ready) -> list[Trigger]:
        done = [req for req in self.pending if ready(req)]
        if not done:
            return []
        self.pending = [req for req in self.pending if not ready(req)]
        return [self._match(req) for req in done]

    def _match(self, req: TriggerRequest) -> Trigger:
        nearest = min(self.history, key=lambda f: abs(f.t_mono - req.t_mono), default=None)
        if nearest is not None and abs(nearest.t_mono - req.t_mono) > self.max_skew_s:
            nearest = None
        return Trigger(
            part_id=req.part_id,
            t_mono=req.t_mono,
            t_utc=req.t_utc,
            kind=self.kind,
            serial=req.serial,
            frame=nearest,
            part_ref=req.part_ref,
        )


def build_trigger(cfg: TriggerConfig) -> TriggerPolicy:
    """The policy for a trigger config (registry by `type`)."""
    factory = TRIGGERS[cfg.type]
    return factory(cfg)


TRIGGERS = {
    "per_frame": lambda cfg: PerFramePolicy(),
    "presence": PresencePolicy,
    "external": ExternalPolicy,
}


def request_times(t: float | datetime | None) -> tuple[float, datetime]:
    """(monotonic, UTC) times of a trigger given as monotonic seconds, UTC datetime or now."""
    now_mono, now_utc = time.monotonic(), datetime.now(UTC)
    if t is None:
        return now_mono, now_utc
    if isinstance(t, datetime):
        if t.tzinfo is None:
            raise ValueError("trigger time must be timezone-aware")
        return now_mono - (now_utc - t).total_seconds(), t.astimezone(UTC)
    return float(t), now_utc - timedelta(seconds=now_mono - float(t))


__all__ = [
    "ExternalPolicy",
    "ExternalTrigger",
    "PerFramePolicy",
    "PerFrameTrigger",
    "PresencePolicy",
    "TriggerPolicy",
    "TriggerRequest",
    "build_trigger",
    "new_part_id",
    "request_times",
]
