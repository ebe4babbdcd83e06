"""Genealogy of one serial: its inspections and every upstream event, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from inspector.domain import Inspection
from inspector.errors import TraceError
from inspector.serials.base import clean_serial
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.store import InspectionStore


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a part's history: an upstream event or an inspection."""

    at: datetime
    kind: str            # "event" | "inspection"
    what: str            # "kiln-2/firing" or "OK crack"
    details: dict[str, Any]


@dataclass(frozen=True)
class Genealogy:
    """Everything known about one serial, oldest first."""

    serial: str
    inspections: tuple[Inspection, ...]
    events: tuple[ProcessEvent, ...]

    @property
    def found(self) -> bool:
        """False when the serial is unknown to both the inspections and the events."""
        return bool(self.inspections or self.events)

    def timeline(self) -> list[TimelineEntry]:
        """Events and inspections merged in time order (events first at equal times)."""
        entries = [_event_entry(e) for e in self.events]
        entries += [_inspection_entry(i) for i in self.inspections]
        return sorted(entries, key=lambda e: (e.at, e.kind != "event"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC)."""
        return {
            "serial": self.serial,
            "inspections": [_inspection_dict(i) for i in self.inspections],
            "events": [_event_dict(e) for e in self.events],
        }


def genealogy(serial: str, inspections: InspectionStore, events: EventStore,
              station_id: str | None = None) -> Genealogy:
    """The genealogy of `serial` (two indexed lookups on serial). With `station_id`, only that
    station's inspections; the upstream events stay, since they belong to no station."""
    clean = clean_serial(serial)
    if clean is None:
        raise TraceError(f"not a valid serial: {serial!r}")
    found = sorted(inspections.by_serial(clean, station_id), key=lambda i: i.inspected_at)
    return Genealogy(clean, tuple(found), tuple(events.for_serial(clean)))


def _event_entry(event: ProcessEvent) -> TimelineEntry:
    return TimelineEntry(event.ts, "event", f"{event.machine}/{event.step}",
                         dict(event.parameters))


def _inspection_entry(ins: Inspection) -> TimelineEntry:
    what = f"{ins.verdict.value} {ins.label or ''}".strip()
    if ins.status.value != "ok":
        what = f"{ins.status.value}"
    details = {"part_id": ins.part_id, "station": ins.station_id,
               "defect_score": ins.defect_score, "image": ins.image_path}
    if ins.review_label:
        details["review_label"] = ins.review_label
    return TimelineEntry(ins.inspected_at, "inspection", what, details)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _event_dict(event: ProcessEvent) -> dict[str, Any]:
    return {
        "machine": event.machine, "step": event.step, "timestamp": _iso(event.ts),
        "parameters": dict(event.parameters), "received_at": _iso(event.received_at),
    }


def _inspection_dict(ins: Inspection) -> dict[str, Any]:
    return {
        "part_id": ins.part_id, "station_id": ins.station_id,
        "serial_source": ins.serial_source.value, "inspected_at": _iso(ins.inspected_at),
        "captured_at": _iso(ins.captured_at), "status": ins.status.value,
        "verdict": ins.verdict.value, "label": ins.label, "defect_score": ins.defect_score,
        "scores": dict(ins.scores), "model_version": ins.model_version,
        "image_path": ins.image_path, "heatmap_path": ins.heatmap_path,
        "review_label": ins.review_label,
    }
