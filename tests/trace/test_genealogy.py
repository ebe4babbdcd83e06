"""Genealogy: a serial's inspections and upstream events, in time order."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from inspector.errors import TraceError
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.genealogy import genealogy
from inspector.trace.simulate import LineSpec, simulate, to_inspection


def test_genealogy_orders_events_and_inspections(
    store: InspectionStore, events: EventStore
) -> None:
    parts = list(simulate(LineSpec(parts=3, seed=1)))
    part = parts[1]
    first = to_inspection(part)
    again = dataclasses.replace(first, part_id="re-" + first.part_id,
                                inspected_at=first.inspected_at + timedelta(hours=1))
    store.write([again, first, to_inspection(parts[0])])
    events.insert(list(reversed(part.events)) + list(parts[0].events))

    result = genealogy(part.serial, store, events)
    assert result.found and result.serial == part.serial
    assert [e.step for e in result.events] == ["pressing", "firing", "grinding", "coating"]
    assert [i.part_id for i in result.inspections] == [first.part_id, again.part_id]
    timeline = result.timeline()
    assert [t.kind for t in timeline] == ["event"] * 4 + ["inspection"] * 2
    assert [t.at for t in timeline] == sorted(t.at for t in timeline)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["events"][1]["machine"].startswith("kiln-")
    assert data["inspections"][0]["verdict"] == part.verdict.value


def test_unknown_serial_is_empty_and_bad_serial_is_an_error(
    store: InspectionStore, events: EventStore
) -> None:
    assert not genealogy("NOPE", store, events).found
    with pytest.raises(TraceError, match="not a valid serial"):
        genealogy("  ", store, events)
