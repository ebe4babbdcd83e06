"""Root cause's hour blocks: cached while valid, rebuilt after any write that touches their hour."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from inspector.domain import Verdict
from inspector.errors import StoreError
from inspector.storage import hour_blocks, rootcause_blocks
from inspector.storage.block_upkeep import BlockUpkeep
from inspector.storage.block_window import BlockWindow
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.hour_blocks import build_block
from inspector.storage.rootcause_blocks import hour_key
from inspector.storage.store import InspectionStore
from inspector.trace.rootcause import analyze, root_cause
from inspector.trace.simulate import LineSpec, simulate, to_inspection

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def line(db_url: str) -> Iterator[tuple[InspectionStore, EventStore, list]]:
    """600 simulated parts over five hours (a cycle of 30 s), stored with their events."""
    store = InspectionStore.open(db_url)
    events = EventStore(store.engine)
    parts = list(simulate(LineSpec(parts=600, seed=7, cycle_s=30.0, start=T0)))
    store.write([to_inspection(p) for p in parts])
    events.insert([e for p in parts for e in p.events])
    try:
        yield store, events, parts
    finally:
        store.close()


def _report(events: EventStore, since: datetime, until: datetime) -> dict:
    out = root_cause(events, since, until, defect_class="crack").to_dict()
    for key in ("seconds", "since", "until"):
        out.pop(key)
    return out


def _reference(events: EventStore, since: datetime, until: datetime) -> dict:
    out = analyze(events.outcomes(since, until), events.facts(since, until),
                  defect_class="crack").to_dict()
    for key in ("seconds", "since", "until"):
        out.pop(key)
    return out


def _cached(store: InspectionStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.execute(text("SELECT hour, version FROM rootcause_blocks")).all())


def test_closed_hours_are_cached_and_read_back_to_the_same_report(line) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    first = _report(events, since, until)
    cached = _cached(store)
    assert len(cached) >= 5  # every hour of the window is over: each one is kept
    assert first == _report(events, since, until) == _reference(events, since, until)
    assert first["parts"] == 600
    # a window that starts and ends inside hours reads the same blocks, cut to its times
    mid_since, mid_until = T0 + timedelta(minutes=90), T0 + timedelta(minutes=200)
    assert _report(events, mid_since, mid_until) == _reference(events, mid_since, mid_until)


def test_every_kind_of_write_makes_its_hours_blocks_stale(line) -> None:
    """A review, a corrected event, a late event and a deleted inspection each change what a
    cached block said: each bumps its hour's version, and the report equals the analysis of
    the rows as they are now."""
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    _report(events, since, until)
    ok = next(p for p in parts[60:] if p.verdict == Verdict.OK)
    firing = next(e for e in parts[200].events if e.step == "firing")
    writes = [
        (ok, lambda: store.set_review_label(f"station-1-{ok.serial}", "crack")),
        (parts[200], lambda: events.insert([dataclasses.replace(
            firing, parameters={**firing.parameters, "temperature": 999.0})])),
        (parts[400], lambda: events.insert([ProcessEvent(
            parts[400].serial, "grinder-9", "grinding",
            parts[400].inspected_at - timedelta(minutes=1), {"tool": "T99"})])),
        (parts[550], lambda: _delete(store, f"station-1-{parts[550].serial}")),
    ]
    for part, write in writes:
        hour = hour_key(part.inspected_at)
        before = _versions(store)[hour]
        write()
        assert _versions(store)[hour] > before
        assert _report(events, since, until) == _reference(events, since, until)
    assert _report(events, since, until)["parts"] == 599


def test_the_upkeep_builds_every_closed_hour_ahead_so_root_cause_builds_none(line, monkeypatch
                                                                             ) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    upkeep = BlockUpkeep(store.engine, days=(datetime.now(UTC) - T0).days + 1)
    assert upkeep.run_once() == len(_versions(store)) >= 5
    assert upkeep.run_once() == 0  # nothing stale
    built = []
    monkeypatch.setattr(rootcause_blocks, "build", lambda *a: built.append(a) or None)
    assert _report(events, since, until) == _reference(events, since, until)
    assert built == []
    store.set_review_label(f"station-1-{parts[10].serial}", "crack")
    assert rootcause_blocks.HourBlocks(store.engine).stale(T0) == [
        ("station-1", hour_key(parts[10].inspected_at))]


def _delete(store: InspectionStore, part_id: str) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM inspections WHERE part_id = :p"), {"p": part_id})


def _versions(store: InspectionStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return dict(conn.execute(text("SELECT hour, version FROM rootcause_hours")).all())


def test_a_block_that_cannot_be_cached_is_still_counted(line) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE rootcause_blocks"))  # as if the database refused writes
        conn.execute(text("CREATE TABLE rootcause_blocks (station_id TEXT, hour TEXT, "
                          "version BIGINT, format INTEGER, main BYTEA, sequence BYTEA, "
                          "CHECK (false))") if store.engine.dialect.name == "postgresql" else
                     text("CREATE TABLE rootcause_blocks (station_id TEXT, hour TEXT, version "
                          "INTEGER, format INTEGER, main BLOB, sequence BLOB, CHECK (0))"))
    assert _report(events, since, until) == _reference(events, since, until)
    assert _cached(store) == {}


@pytest.mark.parametrize("column", ["main", "sequence"])
def test_a_damaged_cached_block_is_built_again(line, column, caplog) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    expected = _reference(events, since, until)
    assert _report(events, since, until) == expected  # every hour cached
    with store.engine.begin() as conn:  # a disk or a copy damaged the blobs
        conn.execute(text(f"UPDATE rootcause_blocks SET {column} = :junk"), {"junk": b"not a block"})
    with caplog.at_level("WARNING", logger="inspector.storage.rootcause_blocks"):
        assert _report(events, since, until) == expected
    assert "could not be read" in caplog.text and "rebuilt" in caplog.text
    if column == "main":  # cached over with readable blocks
        caplog.clear()
        with caplog.at_level("WARNING", logger="inspector.storage.rootcause_blocks"):
            assert _report(events, since, until) == expected
        assert caplog.text == ""


def test_sequences_of_a_block_evicted_or_rebuilt_since_its_read_are_the_rows_as_now(line) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    _report(events, since, until)  # every hour cached
    blocks = rootcause_blocks.HourBlocks(store.engine)
    read = blocks.read(since, until, None)
    assert all(b.sequence is None for b in read)  # cached blocks come without their sequences
    with store.engine.connect() as conn:
        fresh = {b.key[:2]: rootcause_blocks.build(conn, *b.key[:2]).sequence for b in read}
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rootcause_blocks"))  # evicted between the two reads
    blocks.load_sequences(read)
    for block in read:
        got, want = block.sequence, fresh[block.key[:2]]
        assert got.keys() == want.keys()
        assert all(np.array_equal(got[k], want[k]) for k in got)


def _rows(serial: str, at: datetime, part_id: int, verdict: str = "OK",
          label: str | None = None) -> tuple:
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return (part_id, serial, micros, verdict, label, None)


def _two_hours() -> list:
    """S1 inspected NG (crack) in the first hour and OK in the second; S2 once, OK."""
    early = build_block([_rows("S1", T0, 1, "NG", "crack"), _rows("S2", T0, 2)],
                        [("S1", 10, 0, "press-1", "pressing"),
                         ("S2", 11, 0, "press-2", "pressing")],
                        [("S1", 10, "pressing.dwell", "real", 1.5, None)])
    late = build_block([_rows("S1", T0 + timedelta(hours=1), 3)],
                       [("S1", 10, 0, "press-1", "pressing")],
                       [("S1", 10, "pressing.dwell", "real", 1.5, None)])
    return [early, late]


def test_a_serial_inspected_in_two_hours_is_one_part_judged_by_its_latest_inspection() -> None:
    window = BlockWindow(_two_hours(), T0, T0 + timedelta(hours=2), "crack", False,
                         lambda blocks: None)
    counts = window.counts()
    assert (counts.parts, counts.defects) == (2, 0)  # S1 re-inspected OK
    assert counts.labels == frozenset({"crack"})
    assert counts.steps["pressing"] == (2, 0)
    assert counts.numbers["pressing.dwell"].parts.tolist() == [1]
    first_hour = BlockWindow(_two_hours(), T0, T0 + timedelta(minutes=30), "crack", False,
                             lambda blocks: None).counts()
    assert (first_hour.parts, first_hour.defects) == (2, 1)


def test_two_serials_with_one_hash_are_refused_not_merged(monkeypatch) -> None:
    monkeypatch.setattr(hour_blocks, "serial_hash",
                        lambda serials: np.zeros(len(serials), dtype=np.uint64))
    block = build_block([_rows("S1", T0, 1), _rows("S2", T0, 2)], [], [])
    with pytest.raises(StoreError, match="share a 64-bit hash"):
        BlockWindow([block], T0, T0 + timedelta(hours=1), None, False, lambda blocks: None)


def test_rows_of_a_serial_inspected_after_the_hours_first_read_are_left_out() -> None:
    """The build reads inspections, then events and values: a part inspected in between has
    events but no inspection there (its insert made the block stale); it is not counted."""
    block = build_block([_rows("S1", T0, 1)],
                        [("S1", 10, 0, "press-1", "pressing"), ("S9", 11, 0, "press-2",
                                                                 "pressing")],
                        [("S9", 11, "pressing.dwell", "real", 1.5, None)])
    counts = BlockWindow([block], T0, T0 + timedelta(hours=1), None, False,
                         lambda blocks: None).counts()
    assert counts.parts == 1 and counts.steps["pressing"] == (1, 0)
    assert "pressing.dwell" not in counts.numbers


def test_the_upkeep_drops_blocks_older_than_its_days(line) -> None:
    store, events, parts = line
    since, until = T0, parts[-1].inspected_at + timedelta(seconds=1)
    _report(events, since, until)
    assert _cached(store)
    assert BlockUpkeep(store.engine, days=1).run_once() == 0  # nothing of 2024 is kept
    assert _cached(store) == {}
    assert _report(events, since, until) == _reference(events, since, until)

