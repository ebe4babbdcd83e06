"""Hourly rollups: equal to a GROUP BY over the inspections after every write, and rebuildable."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import delete, select

from inspector.domain import SerialSource, Status, Verdict
from inspector.storage.rollups import hour_of, rebuild_rollups
from inspector.storage.store import InspectionStore
from inspector.storage.tables import inspection_rollups, inspections

from .conftest import T0, MakeInspection

LABELS = {Verdict.OK: "good", Verdict.REVIEW: "scratch", Verdict.NG: "crack"}


def _mixed(make: MakeInspection, start: int, n: int) -> list:
    """Parts over several hours and two stations, with every verdict, statuses and no-reads."""
    rows = []
    for i in range(start, start + n):
        verdict = (Verdict.OK, Verdict.OK, Verdict.REVIEW, Verdict.NG)[i % 4]
        status = Status.NO_FRAME if i % 7 == 0 else Status.OK
        rows.append(make(
            i, station_id=f"st-{i % 2}", inspected_at=T0 + timedelta(minutes=17 * i),
            verdict=verdict, status=status, label=None if status is Status.NO_FRAME else LABELS[verdict],
            serial_source=SerialSource.NO_READ if i % 5 == 0 else SerialSource.CODE,
        ))
    return rows


def _rollups(store: InspectionStore) -> Counter:
    with store.engine.connect() as conn:
        rows = conn.execute(select(inspection_rollups)).all()
    return Counter({(r.station_id, r.hour, r.verdict, r.status, r.label, bool(r.no_read)): r.parts
                    for r in rows})


def _group_by(store: InspectionStore) -> Counter:
    """What the rollups must hold, computed from the inspections themselves."""
    cols = inspections.c
    stmt = select(cols.station_id, cols.inspected_at, cols.verdict, cols.status, cols.label,
                  cols.serial_source)
    with store.engine.connect() as conn:
        return Counter((r.station_id, hour_of(r.inspected_at), r.verdict, r.status, r.label or "",
                        r.serial_source == "no_read") for r in conn.execute(stmt))


def test_rollups_match_a_group_by_after_writes_with_duplicates(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    first = _mixed(make_inspection, 0, 60)
    assert store.write(first) == 60
    assert store.write(first[:20] + _mixed(make_inspection, 60, 30)) == 30  # 20 already stored
    assert store.write([first[0], first[0]]) == 0
    rollups = _rollups(store)
    assert rollups == _group_by(store)
    assert sum(rollups.values()) == 90
    assert any(key[5] for key in rollups) and any(key[4] == "" for key in rollups)


def test_a_part_written_twice_counts_once(store: InspectionStore, make_inspection: MakeInspection) -> None:
    part = make_inspection(1, verdict=Verdict.NG, label="crack")
    assert store.write([part, part]) == 1
    assert store.write([part]) == 0
    assert list(_rollups(store).values()) == [1]


def test_rebuild_fills_an_empty_table_from_the_inspections(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    store.write(_mixed(make_inspection, 0, 80))
    expected = _rollups(store)
    with store.engine.begin() as conn:
        conn.execute(delete(inspection_rollups))
    assert rebuild_rollups(store.engine) == len(expected)
    assert _rollups(store) == expected
    assert rebuild_rollups(store.engine) == len(expected)  # a full table is left as it is
    assert _rollups(store) == expected


def test_open_rebuilds_rollups_of_rows_stored_before_them(
    db_url: str, make_inspection: MakeInspection
) -> None:
    store = InspectionStore.open(db_url)
    store.write(_mixed(make_inspection, 0, 40))
    expected = _rollups(store)
    with store.engine.begin() as conn:
        conn.execute(delete(inspection_rollups))
    store.close()
    reopened = InspectionStore.open(db_url)
    try:
        assert _rollups(reopened) == expected == _group_by(reopened)
    finally:
        reopened.close()
