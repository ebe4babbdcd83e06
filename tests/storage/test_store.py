"""InspectionStore on SQLite (and PostgreSQL when configured): writes, reads, pages, counts."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from inspector.domain import SerialSource, Status, Verdict
from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for, sqlite_url
from inspector.storage.rows import InvalidInspection
from inspector.storage.store import InspectionStore

from .conftest import T0, MakeInspection


def test_write_and_get_round_trip(store: InspectionStore, make_inspection: MakeInspection) -> None:
    ins = make_inspection(1, verdict=Verdict.NG, label="crack", image_path="2024-03-01/NG/p.jpg")
    assert store.write([ins]) == 1
    assert store.get(ins.part_id) == ins
    assert store.get("unknown") is None


def test_enums_stored_by_value(store: InspectionStore, make_inspection: MakeInspection) -> None:
    store.write([make_inspection(1, serial_source="no_read", status="no_frame", verdict="REVIEW")])
    got = store.get("part-00001")
    assert got is not None
    assert (got.serial_source, got.status, got.verdict) == (
        SerialSource.NO_READ, Status.NO_FRAME, Verdict.REVIEW
    )


def test_same_part_twice_gives_one_row(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    a, b = make_inspection(1), make_inspection(2)
    assert store.write([a, b]) == 2
    assert store.write([a, make_inspection(3)]) == 1
    assert store.write([make_inspection(4), make_inspection(4)]) == 1  # duplicate inside a batch
    page, _ = store.list(limit=100)
    assert sorted(r.part_id for r in page) == [f"part-0000{i}" for i in (1, 2, 3, 4)]


def test_timezones_round_trip_as_aware_utc(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    plus2 = timezone(timedelta(hours=2))
    local = datetime(2024, 3, 1, 10, 0, 0, 123456, tzinfo=plus2)
    store.write([make_inspection(1, inspected_at=local, captured_at=None)])
    got = store.get("part-00001")
    assert got is not None
    assert got.inspected_at == local
    assert got.inspected_at.tzinfo == UTC
    assert got.inspected_at.hour == 8 and got.inspected_at.microsecond == 123456
    assert got.captured_at is None


def test_naive_datetime_is_refused_before_anything_is_written(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    naive = make_inspection(2, inspected_at=datetime(2024, 3, 1, 8, 0))
    with pytest.raises(InvalidInspection, match="timezone-aware"):
        store.write([make_inspection(1), naive])
    assert store.get("part-00001") is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"serial": "x" * 200}, "serial is 200 characters"),
        ({"verdict": "MAYBE"}, "verdict must be one of"),
        ({"defect_score": "high"}, "defect_score must be a number"),
        ({"station_id": ""}, "station_id must be a non-empty string"),
    ],
)
def test_invalid_rows_get_clear_errors(
    store: InspectionStore, make_inspection: MakeInspection, override: dict, message: str
) -> None:
    with pytest.raises(InvalidInspection, match=message):
        store.write([make_inspection(1, **override)])


def test_numpy_scores_and_nan_are_stored_as_plain_numbers(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    ins = make_inspection(
        1, defect_score=np.float32(0.25), latency_ms=float("nan"),
        scores={"good": np.float32(0.75), "crack": np.float64(0.25)},
    )
    store.write([ins])
    got = store.get("part-00001")
    assert got is not None
    assert got.defect_score == pytest.approx(0.25)
    assert got.latency_ms is None
    assert got.scores == {"good": 0.75, "crack": 0.25}


def test_by_serial_in_time_order(store: InspectionStore, make_inspection: MakeInspection) -> None:
    rows = [make_inspection(i, serial="SN-A" if i % 2 else "SN-B") for i in (5, 1, 3, 2)]
    store.write(rows)
    assert [r.part_id for r in store.by_serial("SN-A")] == [
        "part-00001", "part-00003", "part-00005"
    ]
    assert store.by_serial("nope") == []


def _write_line(store: InspectionStore, make_inspection: MakeInspection, n: int) -> None:
    verdicts = [Verdict.OK, Verdict.OK, Verdict.NG, Verdict.REVIEW]
    # pairs of parts share one timestamp, so paging must break ties by id
    store.write([
        make_inspection(
            i, inspected_at=T0 + timedelta(seconds=i // 2), verdict=verdicts[i % 4],
            station_id="st-1" if i < n // 2 else "st-2",
        )
        for i in range(n)
    ])


def test_list_pages_newest_first_without_gaps(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    _write_line(store, make_inspection, 25)
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = store.list(limit=7, cursor=cursor)
        seen += page
        pages += 1
        if cursor is None:
            break
    assert pages == 4
    assert len({r.part_id for r in seen}) == 25
    keys = [r.inspected_at for r in seen]
    assert keys == sorted(keys, reverse=True)


def test_list_filters(store: InspectionStore, make_inspection: MakeInspection) -> None:
    _write_line(store, make_inspection, 40)
    ng, _ = store.list(verdict=Verdict.NG)
    assert len(ng) == 10 and {r.verdict for r in ng} == {Verdict.NG}
    st2, _ = store.list(station_id="st-2", verdict="OK")
    assert len(st2) == 10 and {r.station_id for r in st2} == {"st-2"}
    window, _ = store.list(since=T0 + timedelta(seconds=5), until=T0 + timedelta(seconds=10))
    assert {r.part_id for r in window} == {f"part-{i:05d}" for i in range(10, 20)}
    filtered, cursor = store.list(verdict="NG", limit=4)
    more, _ = store.list(verdict="NG", limit=4, cursor=cursor)
    assert not {r.part_id for r in filtered} & {r.part_id for r in more}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit must be between"),
        ({"cursor": "garbage!"}, "invalid page cursor"),
        ({"verdict": "BAD"}, "verdict must be one of"),
        ({"since": datetime(2024, 1, 1)}, "timezone-aware"),
    ],
)
def test_list_rejects_bad_arguments(store: InspectionStore, kwargs: dict, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        store.list(**kwargs)


def test_counts_by_verdict(store: InspectionStore, make_inspection: MakeInspection) -> None:
    assert store.counts() == {"OK": 0, "REVIEW": 0, "NG": 0}
    _write_line(store, make_inspection, 40)
    assert store.counts() == {"OK": 20, "REVIEW": 10, "NG": 10}
    assert store.counts(station_id="st-1") == {"OK": 10, "REVIEW": 5, "NG": 5}
    assert store.counts(since=T0 + timedelta(seconds=10)) == {"OK": 10, "REVIEW": 5, "NG": 5}


def test_review_label(store: InspectionStore, make_inspection: MakeInspection) -> None:
    store.write([make_inspection(1, verdict=Verdict.REVIEW)])
    assert store.set_review_label("part-00001", "crack") is True
    got = store.get("part-00001")
    assert got is not None and got.review_label == "crack"
    assert store.set_review_label("unknown", "crack") is False
    assert store.set_review_label("part-00001", None) is True
    assert store.get("part-00001").review_label is None  # type: ignore[union-attr]


def test_station_status_upsert(store: InspectionStore) -> None:
    assert store.station_status("st-1") is None
    store.set_station_status("st-1", {"fps": 29.5, "camera": "online"})
    store.set_station_status("st-1", {"fps": 30.0, "camera": "offline"})
    assert store.station_status("st-1") == {"fps": 30.0, "camera": "offline"}
    [status] = store.station_statuses()
    assert status.station_id == "st-1" and status.updated_at.tzinfo == UTC
    with pytest.raises(StoreError, match="not plain JSON"):
        store.set_station_status("st-1", {"when": datetime.now(UTC)})


def test_writes_from_several_threads(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    def writer(k: int) -> None:
        store.write([make_inspection(k * 100 + i) for i in range(20)])

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sum(store.counts().values()) == 80


def test_store_error_when_sqlite_file_is_read_only(
    tmp_path: Path, make_inspection: MakeInspection
) -> None:
    url = sqlite_url(tmp_path)
    InspectionStore.open(url).close()
    # The read-only URI mode refuses writes even to root, unlike file permissions.
    ro = InspectionStore.open(f"sqlite:///file:{tmp_path}/inspector.db?mode=ro&uri=true")
    assert ro.get("part-00001") is None  # reading still works
    with pytest.raises(StoreError, match="cannot write 1 inspections"):
        ro.write([make_inspection(1)])
    ro.close()


def test_store_error_when_postgres_is_unreachable(make_inspection: MakeInspection) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/test?connect_timeout=2"
    with pytest.raises(StoreError, match="cannot migrate database"):
        InspectionStore.open(url)
    store = InspectionStore(create_engine_for(url), owns_engine=True)
    with pytest.raises(StoreError, match="cannot write 1 inspections to database"):
        store.write([make_inspection(1)])
    store.close()


def test_store_error_when_database_goes_away(
    tmp_path: Path, make_inspection: MakeInspection
) -> None:
    store = InspectionStore.open(sqlite_url(tmp_path / "db"))
    store.write([make_inspection(1)])
    store.close()  # drop pooled connections, then the volume "disappears"
    (tmp_path / "db").rename(tmp_path / "gone")
    (tmp_path / "db").write_text("a file where the data directory was")
    with pytest.raises(StoreError, match="cannot write"):
        store.write([make_inspection(2)])


def test_inspection_without_optional_fields(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    bare = make_inspection(
        1, status=Status.NO_FRAME, serial_source=SerialSource.GENERATED, label=None,
        defect_score=None, scores={}, model_version=None, threshold_ng=None,
        threshold_review=None, latency_ms=None, error="no frame within 200 ms",
    )
    store.write([bare])
    assert store.get("part-00001") == bare
    assert dataclasses.replace(bare, error=None) != store.get("part-00001")


def test_repair_trims_an_overlong_serial_and_notes_it(sqlite_store, make_inspection):
    from inspector.storage.rows import repair

    bad = make_inspection(1, serial="S" * 300)
    fixed = repair(bad)
    assert len(fixed.serial) == 128 and "serial is 300 characters" in fixed.error
    assert sqlite_store.write([fixed]) == 1
    good = make_inspection(2)
    assert repair(good) is good


def test_a_part_reference_is_stored_once_per_station(
    store: InspectionStore, make_inspection: MakeInspection
) -> None:
    ref = f"PLC-{make_inspection(900).part_id}"  # unique: the PostgreSQL database is shared
    first = make_inspection(901, part_ref=ref)
    retry = make_inspection(902, part_ref=ref)  # another part id, the same PLC reference
    other_station = make_inspection(903, part_ref=ref, station_id="other-station")
    assert store.write([first]) == 1
    assert store.write([retry, other_station]) == 1  # the retry is the same part: skipped
    assert store.get(retry.part_id) is None and store.get(first.part_id).part_ref == ref
