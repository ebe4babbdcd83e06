"""StationSettings: the sizes, timings and verdict routing of one station, from its config."""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.config import StationConfig
from inspector.domain import Verdict
from inspector.pipeline.records import Routing
from inspector.pipeline.region import InspectRegion


@dataclass(frozen=True)
class StationSettings:
    """Sizes and timings of one station (from the config, or defaults for tests)."""

    station_id: str = "station-1"
    batch_max: int = 2
    frames_queue: int = 4
    jobs_queue: int = 64
    results_queue: int = 1024
    outputs_queue: int = 1024
    requests_queue: int = 256
    store_batch_size: int = 32
    flush_interval_s: float = 0.5
    retry_interval_s: float = 5.0
    status_interval_s: float = 2.0
    archive_threads: int = 2  # parallel image encoders (OpenCV releases the GIL)
    region: InspectRegion = field(default_factory=InspectRegion)  # what the model sees of a frame
    max_parts: int | None = None  # stop after this many triggered parts (demo, benchmarks)
    deadline_s: float | None = None  # verdict deadline per part: older parts get a `late` row
    routing: Routing = field(default_factory=Routing)  # verdicts of bad_image and late parts
    inference_threads: int = 2  # parts judged side by side (session_threads: each on one thread)

    @classmethod
    def from_config(cls, cfg: StationConfig, max_parts: int | None = None) -> StationSettings:
        q, s = cfg.queues, cfg.storage
        return cls(
            station_id=cfg.station.id, batch_max=cfg.model.batch_max, region=_region(cfg),
            frames_queue=q.frames, jobs_queue=q.jobs, results_queue=q.results,
            outputs_queue=q.outputs, requests_queue=q.triggers,
            store_batch_size=s.batch_size, flush_interval_s=s.flush_interval_s,
            retry_interval_s=s.retry_interval_s, status_interval_s=s.status_interval_s,
            max_parts=max_parts, deadline_s=cfg.verdicts.deadline_s,
            inference_threads=cfg.model.inference_threads,
            routing=Routing(Verdict(cfg.verdicts.bad_image), Verdict(cfg.verdicts.late)),
        )


def _region(cfg: StationConfig) -> InspectRegion:
    """The crop the inference step applies to each frame (whole frame unless configured)."""
    roi, trim = cfg.model.roi, cfg.model.trim_background
    if roi is None:
        return InspectRegion(trim=trim)
    return InspectRegion(roi.x, roi.y, roi.w, roi.h, trim=trim)


def session_threads(inference_threads: int) -> int:
    """ONNX Runtime threads per model session for this many inference threads: one each when
    parts run side by side (no thread waits at another's barrier), else two for the one part."""
    return 1 if inference_threads > 1 else 2
