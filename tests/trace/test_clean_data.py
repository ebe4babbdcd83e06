"""Clean data (issue 30 item 3): missing values, mixed types, corrected re-imports, clear errors."""

from __future__ import annotations

import math
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from inspector.errors import TraceError
from inspector.storage.events import EventFacts, EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.csv_import import import_csv
from inspector.trace.ingest import ingest_events, validate_event
from inspector.trace.rootcause import analyze, root_cause
from inspector.trace.scenarios import Scenario, generate
from inspector.trace.simulate import LineSpec, simulate, to_inspection

HEADER = "serial,machine,step,timestamp,temp,zone\n"


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_missing_cells_are_left_out_and_the_column_stays_numeric(
    tmp_path: Path, events: EventStore
) -> None:
    rows = [f"SN-{i},kiln-2,firing,2024-05-01T08:{i:02d}:00Z,{870 + i}.5,A\n" for i in range(5)]
    rows += ["SN-5,kiln-2,firing,2024-05-01T08:05:00Z,NaN,n/a\n",
             "SN-6,kiln-2,firing,2024-05-01T08:06:00Z, N/A ,\n",
             "SN-7,kiln-2,firing,2024-05-01T08:07:00Z,#N/A,null\n"]
    result = import_csv(events, _write(tmp_path / "e.csv", rows))
    assert (result.stored, result.rejected) == (8, 0)
    for serial in ("SN-5", "SN-6", "SN-7"):
        assert events.for_serial(serial)[0].parameters == {}
    assert events.for_serial("SN-1")[0].parameters == {"temp": 871.5, "zone": "A"}


def test_json_events_drop_null_nan_and_na_markers() -> None:
    event = validate_event({"serial": "SN-1", "machine": "m", "step": "s",
                            "timestamp": "2024-05-01T08:00:00Z",
                            "parameters": {"a": None, "b": math.nan, "c": "n/a", "d": "",
                                           "e": 1.5, "f": "L7"}})
    assert event.parameters == {"e": 1.5, "f": "L7"}
    with pytest.raises(TraceError, match="only finite numbers"):
        validate_event({"serial": "SN-1", "machine": "m", "step": "s",
                        "timestamp": "2024-05-01T08:00:00Z", "parameters": {"x": math.inf}})


def test_a_mixed_type_parameter_is_reported_and_not_retyped() -> None:
    outcomes, facts = generate(Scenario(parts=3000, seed=1))
    # 30 dwell values arrive as text: a word the importer does not know, and numbers as text
    bad = {i: ("broken" if i % 200 else "1.95") for i in range(0, 3000, 100)}
    facts = [f._replace(parameters={**f.parameters, "dwell_s": bad[i // 4]})
             if f.step == "pressing" and i // 4 in bad else f for i, f in enumerate(facts)]
    facts += [EventFacts(o.serial, "press-1", "pressing", {"dwell_s": "NaN"}) for o in outcomes[:5]]
    report = analyze(outcomes, facts, defect_class="crack")
    issue = next(i for i in report.data_issues if i.parameter == "pressing.dwell_s")
    assert issue.issue == "mixed_types"
    assert "2970 numbers and 30 text values" in issue.message and "'broken'" in issue.message
    assert "tested on the numbers only" in issue.message
    dwell = next(f for f in report.ranked if f.name == "pressing.dwell_s")
    assert dwell.test == "chi2" and dwell.parts == 2970  # numeric: '1.95' was not made a number


def _correction_round_trip(events: EventStore, tmp_path: Path, p: str) -> None:
    rows = [f"{p}-{i},kiln-2,firing,2024-05-01T08:{i:02d}:00Z,{870 + i},A\n" for i in range(3)]
    csv = _write(tmp_path / f"{p}.csv", rows)
    assert import_csv(events, csv).stored == 3
    rows[1] = f"{p}-1,kiln-2,firing,2024-05-01T08:01:00Z,861,B\n"  # corrected at the source
    again = import_csv(events, _write(tmp_path / f"{p}.csv", rows))
    assert (again.stored, again.revised, again.duplicates) == (0, 1, 2)
    current = events.for_serial(f"{p}-1")
    assert len(current) == 1 and current[0].parameters == {"temp": 861, "zone": "B"}
    revisions = events.revisions(f"{p}-1")
    assert [r.parameters for r in revisions] == [{"temp": 871, "zone": "A"}]
    assert revisions[0].replaced_at >= revisions[0].received_at
    assert import_csv(events, csv).duplicates == 3  # the corrected file again: nothing changes
    assert events.revisions(f"{p}-0") == []


def test_a_corrected_event_replaces_the_stored_one_and_keeps_it_as_a_revision(
    tmp_path: Path, events: EventStore
) -> None:
    _correction_round_trip(events, tmp_path, "SN")


def test_a_correction_in_the_same_batch_wins(events: EventStore) -> None:
    first = {"serial": "SN-1", "machine": "m", "step": "s", "timestamp": "2024-05-01T08:00:00Z",
             "parameters": {"t": 1}}
    result = ingest_events(events, [first, {**first, "parameters": {"t": 2}}])
    assert (result.stored, result.revised, result.duplicates) == (1, 1, 0)
    assert events.for_serial("SN-1")[0].parameters == {"t": 2}


def test_corrections_on_postgresql(tmp_path: Path) -> None:
    url = os.environ.get("INSPECTOR_TEST_PG_URL")
    if not url:
        pytest.skip("INSPECTOR_TEST_PG_URL is not set")
    store = InspectionStore.open(url)
    prefix = f"R{uuid.uuid4().hex[:12]}"  # the database is shared: touch only our own rows
    try:
        _correction_round_trip(EventStore(store.engine), tmp_path, prefix)
    finally:
        with store.engine.begin() as conn:
            for table in ("process_events", "process_event_revisions"):
                conn.execute(text(f"DELETE FROM {table} WHERE serial LIKE :p"), {"p": prefix + "-%"})
        store.close()


def _stored_line(store: InspectionStore, events: EventStore) -> list:
    parts = list(simulate(LineSpec(parts=200, seed=8)))
    store.write([to_inspection(p) for p in parts])
    events.insert([e for p in parts for e in p.events])
    return parts


def test_an_empty_window_says_what_the_history_spans(
    store: InspectionStore, events: EventStore
) -> None:
    parts = _stored_line(store, events)
    first = parts[0].inspected_at
    with pytest.raises(TraceError) as caught:
        root_cause(events, first - timedelta(days=2), first - timedelta(days=1))
    message = str(caught.value)
    assert "found 0 parts" in message and "the history spans 2024-05-01 07:50 .. " in message
    assert "(200 parts)" in message


def test_an_empty_store_says_so(events: EventStore) -> None:
    first = LineSpec().start
    with pytest.raises(TraceError, match="found 0 parts; the store holds no inspected parts"):
        root_cause(events, first, first + timedelta(days=1))


def test_an_unknown_defect_class_is_an_error_naming_the_known_ones(
    store: InspectionStore, events: EventStore
) -> None:
    parts = _stored_line(store, events)
    since, until = parts[0].inspected_at, parts[-1].inspected_at + timedelta(seconds=1)
    with pytest.raises(TraceError, match=r"unknown defect class 'crak' \(did you mean 'crack'\?\)"
                                         r": the 200 parts of this window carry the labels "):
        root_cause(events, since, until, defect_class="crak")
    assert root_cause(events, since, until, defect_class="crack").defect_class == "crack"
