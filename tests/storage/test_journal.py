"""Journal: fsynced spill file, replay into the store without duplicates, torn last line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest

from inspector.domain import Inspection, Verdict
from inspector.errors import StoreError
from inspector.storage.journal import Journal
from inspector.storage.rows import InvalidInspection
from inspector.storage.store import InspectionStore

from .conftest import MakeInspection


class DownStore:
    """A store whose database is away."""

    def write(self, rows: Sequence[Inspection]) -> int:
        raise StoreError("cannot write: database is away")


def _all_rows(store: InspectionStore) -> list[Inspection]:
    rows, _ = store.list(limit=1000)
    return rows


def test_append_then_replay(
    tmp_path: Path, store: InspectionStore, make_inspection: MakeInspection
) -> None:
    journal = Journal(tmp_path / "spool" / "journal.jsonl")
    assert journal.pending() == 0
    rows = [make_inspection(i, verdict=Verdict.NG if i % 3 == 0 else Verdict.OK) for i in range(5)]
    journal.append(rows[:3])
    journal.append(rows[3:])
    assert journal.pending() == 5
    assert journal.replay(store) == 5
    assert journal.pending() == 0
    assert {r.part_id: r for r in _all_rows(store)} == {r.part_id: r for r in rows}
    assert journal.replay(store) == 0


def test_replay_after_crash_before_truncate_never_duplicates(
    tmp_path: Path, store: InspectionStore, make_inspection: MakeInspection
) -> None:
    rows = [make_inspection(i) for i in range(4)]
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append(rows)
    store.write(rows[:2])  # the previous replay committed part of it, then the power went
    assert journal.replay(store) == 4
    assert len(_all_rows(store)) == 4
    journal.append(rows)  # and even a whole second copy
    journal.replay(store)
    assert sorted(r.part_id for r in _all_rows(store)) == [r.part_id for r in rows]


def test_torn_last_line_is_skipped_counted_and_kept(
    tmp_path: Path, store: InspectionStore, make_inspection: MakeInspection
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append([make_inspection(i) for i in range(3)])
    torn = json.dumps({"part_id": "part-00003", "station_id": "st-1"})[:25].encode()
    with open(path, "ab") as f:
        f.write(torn)  # power cut in the middle of an append; the station restarts
    journal = Journal(path)
    assert journal.pending() == 4
    assert journal.replay(store) == 3
    assert journal.torn_lines == 1 and journal.bad_lines == 0
    assert journal.pending() == 0
    assert journal.bad_path.read_bytes() == torn + b"\n"
    assert len(_all_rows(store)) == 3


def test_append_after_torn_line_keeps_new_rows(
    tmp_path: Path, store: InspectionStore, make_inspection: MakeInspection
) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append([make_inspection(0)])
    with open(path, "ab") as f:
        f.write(b'{"part_id": "part-0')
    journal.append([make_inspection(1)])  # must not glue itself onto the torn fragment
    assert journal.replay(store) == 2
    assert journal.bad_lines == 1
    assert {r.part_id for r in _all_rows(store)} == {"part-00000", "part-00001"}


def test_replay_keeps_journal_when_store_is_down(
    tmp_path: Path, make_inspection: MakeInspection
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append([make_inspection(i) for i in range(3)])
    before = journal.path.read_bytes()
    with pytest.raises(StoreError, match="database is away"):
        journal.replay(DownStore())
    assert journal.path.read_bytes() == before
    assert journal.pending() == 3


def test_invalid_row_is_refused_and_journal_untouched(
    tmp_path: Path, make_inspection: MakeInspection
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append([make_inspection(0)])
    before = journal.path.read_bytes()
    with pytest.raises(InvalidInspection, match="timezone-aware"):
        journal.append([make_inspection(1), make_inspection(2, inspected_at=datetime(2024, 1, 1))])
    assert journal.path.read_bytes() == before


def test_unwritable_journal_is_a_store_error(
    tmp_path: Path, make_inspection: MakeInspection
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot write journal"):
        Journal(blocker / "journal.jsonl").append([make_inspection(0)])


def test_large_journal_replays_in_batches(
    tmp_path: Path, store: InspectionStore, make_inspection: MakeInspection
) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append([make_inspection(i) for i in range(1200)])
    assert journal.replay(store) == 1200
    assert sum(store.counts().values()) == 1200
