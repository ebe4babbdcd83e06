"""Frozen dataclasses that cross thread boundaries: Frame, Trigger, Prediction, Inspection."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np


class Verdict(enum.StrEnum):
    """What the station tells the line about one part."""

    OK = "OK"
    REVIEW = "REVIEW"
    NG = "NG"


class Status(enum.StrEnum):
    """How an inspection record came about: only `ok` rows carry a model verdict from a frame."""

    OK = "ok"                # frame inspected by the model
    NO_FRAME = "no_frame"    # part triggered but no (fresh) frame was available
    ERROR = "error"          # the model or preprocessing failed on this part
    OVERFLOW = "overflow"    # backlog was full; part recorded without inspection
    BAD_IMAGE = "bad_image"  # the image is unusable (unreadable, blank, exposure, focus, size)
    LATE = "late"            # not judged within the verdict deadline
    ABORTED = "aborted"      # the station was forced to stop before judging this part


class SerialSource(enum.StrEnum):
    """Where a part's serial number came from."""

    CODE = "code"            # decoded from a DataMatrix/QR/Code128 in the frame
    TRIGGER = "trigger"      # handed over with the external trigger (PLC/MES)
    MANIFEST = "manifest"    # from a replay manifest CSV
    FILENAME = "filename"    # from the image file name
    GENERATED = "generated"  # no serial reader configured; a unique id was generated
    NO_READ = "no_read"      # a code reader was configured but read nothing


@dataclass(frozen=True)
class Frame:
    """One image from a source, with when and where it was taken."""

    image: np.ndarray          # uint8, HxW (gray) or HxWx3 (BGR, OpenCV order)
    frame_id: int
    source_id: str
    t_mono: float              # time.monotonic() at capture
    t_utc: datetime            # wall-clock capture time, timezone-aware UTC
    name: str | None = None    # file name for replays (folder/video sources)
    serial_hint: str | None = None  # serial known by the source itself (manifest)
    ref: str | None = None     # the input's identity in its source (resume key), e.g. folder:x/a.png
    problem: str | None = None  # why this input has no usable image (then `image` is empty)


@dataclass(frozen=True)
class Trigger:
    """A request to inspect one part: from every frame, a presence detector or the PLC."""

    part_id: str
    t_mono: float
    t_utc: datetime
    kind: str                  # per_frame | presence | external
    serial: str | None = None  # serial handed over with an external trigger
    frame: Frame | None = None  # the frame chosen for this part, None when none was available
    part_ref: str | None = None  # the PLC/MES reference of the part (idempotency key), if any


@dataclass(frozen=True)
class Prediction:
    """The classifier's answer for one image."""

    label: str
    scores: Mapping[str, float]  # class name -> probability
    defect_score: float          # 1 - p(good classes), or anomaly-combined score
    verdict: Verdict
    heatmap: np.ndarray | None = None  # float32 HxW in [0, 1], same size as the input image
    anomaly_score: float | None = None


@dataclass(frozen=True)
class Inspection:
    """One row per inspected part: the station's durable record."""

    part_id: str
    station_id: str
    serial: str
    serial_source: SerialSource
    captured_at: datetime | None
    inspected_at: datetime
    status: Status
    verdict: Verdict
    label: str | None = None
    defect_score: float | None = None
    anomaly_score: float | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    model_version: str | None = None
    threshold_ng: float | None = None
    threshold_review: float | None = None
    image_path: str | None = None
    heatmap_path: str | None = None
    latency_ms: float | None = None
    error: str | None = None
    review_label: str | None = None
    reviewed_at: datetime | None = None
    reviewed_by: str | None = None
    review_note: str | None = None
    source_ref: str | None = None   # the input's name in its source (a folder's file name)
    signalled: str | None = None    # verdict the fast-path reject output was told, if any
    part_ref: str | None = None     # the PLC/MES part reference (idempotency key) of the trigger


@dataclass(frozen=True)
class Alarm:
    """A station condition the line must hear of: raised, and later cleared."""

    kind: str                  # camera_offline | store_unreachable | deadline_missed | defect_rate_*
    active: bool               # True when raised, False when cleared
    message: str
    station_id: str
    at: datetime
    details: Mapping[str, Any] | None = None   # what it rests on (a predictive alert's evidence)
