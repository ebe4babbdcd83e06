"""Prometheus exposition of station metrics, read from the station's status at scrape time."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

# (name, help, key in the status dict): one gauge each, labelled by station.
GAUGES = (
    ("inspector_up", "1 while the station's threads run.", "running"),
    ("inspector_capture_fps", "Frames captured per second.", "capture_fps"),
    ("inspector_parts_per_minute", "Parts judged per minute.", "parts_per_min"),
    ("inspector_camera_online", "1 while the camera delivers new frames.", "camera_online"),
    ("inspector_db_online", "1 while the database takes the rows.", "db_online"),
    ("inspector_journal_pending_rows", "Rows waiting in the journal for the database.",
     "journal_pending"),
    ("inspector_uptime_seconds", "Seconds since the station started.", "uptime_s"),
    ("inspector_forward_queue_rows", "Rows not yet in the central database.",
     "forward_queue_rows"),
    ("inspector_forward_lag_seconds", "Age of the oldest row not yet in the central database.",
     "forward_lag_seconds"),
)
COUNTERS = (
    ("inspector_frames_captured", "Frames read from the source.", "frames_captured"),
    ("inspector_dropped_frames", "Frames dropped because the pipeline was behind.", "dropped_frames"),
    ("inspector_triggered_parts", "Parts triggered.", "triggered"),
    ("inspector_no_read_parts", "Parts whose serial could not be read.", "no_read"),
    ("inspector_output_failures", "Output calls that failed.", "output_failures"),
)
HISTOGRAMS = (
    ("inspector_inference_ms", "Model time per part, milliseconds.", "inference_ms"),
    ("inspector_end_to_end_ms", "Capture to verdict per part, milliseconds.", "e2e_ms"),
)

StationStates = Callable[[], list[tuple[str, dict[str, Any], str | None]]]


class StationCollector(Collector):
    """Yields every station's figures; `states` returns (station id, status, model version)."""

    def __init__(self, states: StationStates) -> None:
        self.states = states

    def collect(self) -> Iterator[Metric]:
        states = self.states()
        yield from _gauges(states)
        yield from _counters(states)
        yield from _labelled(states)
        yield from _histograms(states)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _gauges(states) -> Iterator[Metric]:
    yield from _per_station(states, GAUGES, GaugeMetricFamily)


def _counters(states) -> Iterator[Metric]:
    yield from _per_station(states, COUNTERS, CounterMetricFamily)


def _per_station(states, specs, family_type) -> Iterator[Metric]:
    """One family per (name, help, status key), a sample per station that has a number there."""
    for name, text, key in specs:
        family = family_type(name, text, labels=["station"])
        for station, status, _ in states:
            value = _number(status.get(key))
            if value is not None:
                family.add_metric([station], value)
        yield family


def _labelled(states) -> Iterator[Metric]:
    """Per-verdict, per-status, per-queue, per-alarm and model-version series."""
    verdicts = CounterMetricFamily("inspector_parts", "Parts by verdict.", labels=["station", "verdict"])
    statuses = CounterMetricFamily("inspector_parts_by_status", "Parts by how their row came about.",
                                   labels=["station", "status"])
    queues = GaugeMetricFamily("inspector_queue_depth", "Items waiting in each queue.",
                               labels=["station", "queue"])
    alarms = GaugeMetricFamily("inspector_alarm_active", "1 for each raised alarm.",
                               labels=["station", "alarm"])
    model = GaugeMetricFamily("inspector_model_info", "The active model version (value 1).",
                              labels=["station", "version"])
    lines = GaugeMetricFamily("inspector_lineio_connected",
                              "1 while a line protocol (MQTT, OPC UA) is connected or serving.",
                              labels=["station", "protocol"])
    for station, status, version in states:
        for key, family in (("verdicts", verdicts), ("statuses", statuses), ("queue_depths", queues)):
            for label, value in (status.get(key) or {}).items():
                if _number(value) is not None:
                    family.add_metric([station, str(label)], float(value))
        for alarm in status.get("alarms") or []:
            alarms.add_metric([station, str(alarm)], 1.0)
        if version:
            model.add_metric([station, version], 1.0)
        for line in (status.get("extra") or {}).get("lineio") or []:
            lines.add_metric([station, str(line.get("name"))], float(bool(line.get("connected"))))
    yield from (verdicts, statuses, queues, alarms, model, lines)


def _histograms(states) -> Iterator[Metric]:
    for name, text, key in HISTOGRAMS:
        family = HistogramMetricFamily(name, text, labels=["station"])
        for station, status, _ in states:
            hist = (status.get("histograms") or {}).get(key)
            if not hist:
                continue
            buckets = [(bound, float(count)) for bound, count in hist["buckets"].items()]
            buckets.append(("+Inf", float(hist["count"])))
            family.add_metric([station], buckets, sum_value=float(hist["sum"]))
        yield family
