"""Root cause from hour blocks built in SQLite and PostgreSQL gives the in-memory analysis's report."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from inspector.domain import Status, Verdict
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.store import InspectionStore
from inspector.trace.rootcause import analyze, root_cause
from inspector.trace.simulate import LineSpec, simulate, to_inspection


def _stored(url: str) -> tuple[InspectionStore, EventStore, list]:
    """A simulated line plus what real data holds: rework passes (one on another machine, one
    that leaves a parameter out), a re-inspection, an error row, missing and mixed values."""
    store = InspectionStore.open(url)
    events = EventStore(store.engine)
    parts = list(simulate(LineSpec(parts=1200, seed=4)))
    rows = [to_inspection(p) for p in parts]
    rows[5] = dataclasses.replace(rows[5], status=Status.ERROR)
    again = dataclasses.replace(rows[7], part_id=rows[7].part_id + "-again", verdict=Verdict.NG,
                                label="crack", inspected_at=rows[7].inspected_at
                                + timedelta(seconds=1))
    store.write([*rows, again])
    stored = [e for p in parts for e in p.events]
    extra = []
    for i, p in enumerate(parts[:40]):
        firing = next(e for e in p.events if e.step == "firing")
        later = firing.ts + timedelta(minutes=5)
        if i % 2 == 0:  # reworked on the other kiln, every parameter again
            other = "kiln-1" if firing.machine == "kiln-2" else "kiln-2"
            extra.append(ProcessEvent(p.serial, other, "firing", later,
                                      {**firing.parameters, "temperature": 901.5}))
        else:  # the same kiln, only the temperature: the duration of the first pass stays
            extra.append(ProcessEvent(p.serial, firing.machine, "firing", later,
                                      {"temperature": 899.25}))
    for i, p in enumerate(parts[40:400]):
        coat = next(e for e in p.events if e.step == "coating")
        odd = {"n/a": "n/a", 1: 7, 2: None, 3: True}.get(i % 5, "x")  # zone-like mixed column
        stored = [e if e is not coat else dataclasses.replace(
            coat, parameters={**coat.parameters, "mix": odd, "flag": i % 3 == 0}) for e in stored]
    events.insert(stored + extra)
    return store, events, parts


def _comparable(report) -> dict:
    out = report.to_dict()
    for key in ("seconds", "since", "until"):
        out.pop(key)
    return out


@pytest.mark.parametrize("defect_class", [None, "crack"])
def test_hour_blocks_give_the_in_memory_report(db_url: str, defect_class: str | None) -> None:
    store, events, parts = _stored(db_url)
    try:
        since = parts[0].inspected_at
        until = parts[-1].inspected_at + timedelta(seconds=5)
        in_sql = root_cause(events, since, until, defect_class=defect_class)
        in_memory = analyze(events.outcomes(since, until), events.facts(since, until),
                            defect_class=defect_class)
        assert in_sql.parts == 1199 and in_sql.status == "ok"
        assert in_sql.ranked and in_sql.combinations_tested > 100
        assert {d.parameter for d in in_sql.data_issues} == {"coating.mix"}
        assert _comparable(in_sql) == _comparable(in_memory)
    finally:
        store.close()
