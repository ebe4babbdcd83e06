"""The station pipeline: threads, bounded buffers, triggers, the Station root and its metrics."""

from inspector.pipeline.metrics import StationMetrics
from inspector.pipeline.station import Station, StationParts, StationSettings, StationStateError

__all__ = ["Station", "StationMetrics", "StationParts", "StationSettings", "StationStateError"]
