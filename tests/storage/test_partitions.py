"""Monthly partitions of inspections on the real PostgreSQL: migration, created ahead, one row per
part across partitions, retention by dropping partitions."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from typer.testing import CliRunner

from inspector.cli import app
from inspector.errors import StoreError
from inspector.storage.engine import create_engine_for
from inspector.storage.filters import InspectionFilter
from inspector.storage.migrate import upgrade
from inspector.storage.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    PartitionUpkeep,
    apply_retention,
    ensure_partitions,
    is_partitioned,
    month_start,
    partitions,
)
from inspector.storage.progress import SourceProgress
from inspector.storage.store import InspectionStore
from inspector.storage.tables import inspection_rollups, inspections
from tests.storage.conftest import MakeInspection

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    e = create_engine_for(pg_url)
    yield e
    e.dispose()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[InspectionStore]:
    s = InspectionStore.open(pg_url)
    yield s
    s.close()


def _names(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [p.name for p in partitions(conn)]


def _count(engine: Engine, table: str = "inspections") -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _rollup_parts(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.coalesce(func.sum(inspection_rollups.c.parts), 0)))
                   .scalar_one())


def test_migration_partitions_existing_rows(engine: Engine, make_inspection: MakeInspection) -> None:
    upgrade(engine, "0006")
    old = InspectionStore(engine)  # the plain table, before migration 0007
    rows = [make_inspection(i, inspected_at=at) for i, at in enumerate(
        [datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 20, tzinfo=UTC),
         datetime(2024, 3, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, tzinfo=UTC)])]
    assert old.write(rows) == 4
    with engine.connect() as conn:
        ids_before = dict(conn.execute(select(inspections.c.part_id, inspections.c.id)).all())

    upgrade(engine)

    with engine.connect() as conn:
        assert is_partitioned(conn)
        ids_after = dict(conn.execute(select(inspections.c.part_id, inspections.c.id)).all())
        placed = dict(conn.execute(text(
            "SELECT part_id, tableoid::regclass::text FROM inspections")).all())
    assert ids_after == ids_before
    assert placed == {"part-00000": "inspections_p2024_01", "part-00001": "inspections_p2024_01",
                      "part-00002": "inspections_p2024_03", "part-00003": "inspections_p1999_12"}
    this_month = month_start(datetime.now(UTC))
    names = _names(engine)
    assert f"inspections_p{this_month:%Y_%m}" in names
    assert len([n for n in names if n >= f"inspections_p{this_month:%Y_%m}"]) == MONTHS_AHEAD + 1
    assert "inspections_p2024_02" not in names  # only months that hold rows, not the gaps
    store = InspectionStore(engine)
    assert [r.part_id for r in store.by_serial("SN00002")] == ["part-00002"]
    # the id sequence carries on after the rows it numbered before
    assert store.write([make_inspection(9, inspected_at=datetime.now(UTC))]) == 1
    assert store.get("part-00009") is not None
    with engine.connect() as conn:
        new_id = conn.execute(select(inspections.c.id).where(inspections.c.part_id == "part-00009"))
        assert new_id.scalar_one() > max(ids_before.values())


def test_partitions_ahead_are_created_once_and_default_exists(engine: Engine) -> None:
    upgrade(engine)
    created = ensure_partitions(engine, now=NOW)
    assert created == ["inspections_p2030_06", "inspections_p2030_07", "inspections_p2030_08",
                       "inspections_p2030_09"]
    assert ensure_partitions(engine, now=NOW) == []
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT to_regclass('{DEFAULT_PARTITION}')")).scalar()


def test_a_row_outside_every_partition_is_kept_and_moves_to_its_month_later(
        engine: Engine, pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    far = datetime(2041, 2, 3, tzinfo=UTC)
    assert pg_store.write([make_inspection(1, inspected_at=far)]) == 1
    assert _count(engine, DEFAULT_PARTITION) == 1

    assert ensure_partitions(engine, months_ahead=0, now=far) == ["inspections_p2041_02"]

    assert _count(engine, DEFAULT_PARTITION) == 0
    assert _count(engine, "inspections_p2041_02") == 1
    assert pg_store.get("part-00001").inspected_at == far


def test_a_retried_trigger_is_stored_once_across_partitions(
        pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    first = make_inspection(1, part_ref="PLC-77", inspected_at=datetime(2030, 1, 31, 23, tzinfo=UTC))
    # the retry after a restart: a new part id and a time in another month's partition
    retry = make_inspection(2, part_ref="PLC-77", inspected_at=datetime(2030, 2, 1, 1, tzinfo=UTC))
    other_station = make_inspection(3, part_ref="PLC-77", station_id="st-2")
    assert pg_store.write([first]) == 1
    assert pg_store.write([retry, other_station]) == 1
    assert pg_store.write([make_inspection(4, part_ref="X"), make_inspection(5, part_ref="X")]) == 1
    assert SourceProgress(pg_store.engine).part_for_ref("st-1", "PLC-77") == "part-00001"
    assert pg_store.get("part-00002") is None
    assert _rollup_parts(pg_store.engine) == 3  # skipped rows are not counted either


def test_a_part_id_shipped_again_with_another_time_is_stored_once(
        pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    assert pg_store.write([make_inspection(1, inspected_at=datetime(2030, 3, 1, tzinfo=UTC))]) == 1
    assert pg_store.write([make_inspection(1, inspected_at=datetime(2030, 3, 1, tzinfo=UTC))]) == 0
    assert pg_store.write([make_inspection(1, inspected_at=datetime(2030, 5, 1, tzinfo=UTC))]) == 0
    assert pg_store.get("part-00001").inspected_at == datetime(2030, 3, 1, tzinfo=UTC)


def test_concurrent_writers_store_one_part_ref_once(
        pg_url: str, make_inspection: MakeInspection) -> None:
    stores = [InspectionStore.open(pg_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results: list[int] = []

    def write(k: int) -> None:
        row = make_inspection(k, part_ref="PLC-race", inspected_at=NOW + timedelta(days=31 * k))
        barrier.wait()
        results.append(stores[k].write([row]))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    try:
        assert sorted(results) == [0, 0, 0, 1]
        assert _count(stores[0].engine) == 1
    finally:
        for s in stores:
            s.close()


def _fill_months(store: InspectionStore, make: MakeInspection) -> None:
    """Three rows in each of 2025-01 .. 2025-04, and one stray in the default partition."""
    rows = [make(m * 10 + d, inspected_at=datetime(2025, m, 1 + 9 * d, tzinfo=UTC))
            for m in range(1, 5) for d in range(3)]
    rows.append(make(99, inspected_at=datetime(1990, 1, 1, tzinfo=UTC)))
    assert store.write(rows) == 13


def test_retention_drops_whole_old_partitions_and_keeps_rollups(
        engine: Engine, pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    _fill_months(pg_store, make_inspection)
    ensure_partitions(engine, months_ahead=0, now=datetime(2025, 1, 1, tzinfo=UTC))
    for m in (2, 3, 4):
        ensure_partitions(engine, months_ahead=0, now=datetime(2025, m, 1, tzinfo=UTC))
    rollups_before = _rollup_parts(engine)
    with engine.begin() as conn:  # cached root-cause blocks of the January hours
        versions_before = _hour_versions(conn)
        conn.execute(text("INSERT INTO rootcause_blocks (station_id, hour, version, format, main, "
                          "sequence) SELECT station_id, hour, version, 2, 'x', 'x' FROM "
                          "rootcause_hours WHERE hour < '2025-02'"))

    # cutoff 2025-03-10: January and February are wholly older, March only partly
    result = apply_retention(engine, keep_days=30, now=datetime(2025, 4, 9, tzinfo=UTC))

    assert result.dropped == ("inspections_p2025_01", "inspections_p2025_02")
    assert result.deleted_rows == 1  # the 1990 stray in the default partition
    names = _names(engine)
    assert "inspections_p2025_01" not in names and "inspections_p2025_03" in names
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('inspections_p2025_01')")).scalar() is None
    assert _count(engine) == 6  # March kept whole (3), April (3)
    assert _rollup_parts(engine) == rollups_before  # the history's counts stay
    with engine.connect() as conn:  # what the triggers would have done for the dropped months
        versions = _hour_versions(conn)
        assert conn.execute(text("SELECT count(*) FROM rootcause_blocks")).scalar() == 0
    old = [hour for hour in versions_before if hour[1] < "2025-03"]
    assert old and all(versions[hour] > versions_before[hour] for hour in old)
    assert all(versions[hour] == versions_before[hour] for hour in versions_before if hour not in old)


def _hour_versions(conn) -> dict[tuple[str, str], int]:
    return {(s, h): v for s, h, v in conn.execute(text(
        "SELECT station_id, hour, version FROM rootcause_hours")).all()}


def test_exact_retention_also_deletes_the_boundary_month_rows(
        engine: Engine, pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    _fill_months(pg_store, make_inspection)
    for m in (1, 2, 3, 4):
        ensure_partitions(engine, months_ahead=0, now=datetime(2025, m, 1, tzinfo=UTC))

    result = apply_retention(engine, keep_days=30, exact=True, now=datetime(2025, 4, 9, tzinfo=UTC))

    assert result.deleted_rows == 2  # 2025-03-01 (boundary month) and the 1990 stray
    remaining = {r.inspected_at for page in pg_store.pages(_everything()) for r in page}
    assert min(remaining) == datetime(2025, 3, 10, tzinfo=UTC)
    assert len(remaining) == 5


def _everything() -> InspectionFilter:
    return InspectionFilter()


def test_retention_refuses_a_station_sqlite(sqlite_db_url: str) -> None:
    upgrade(sqlite_db_url)
    engine = create_engine_for(sqlite_db_url)
    try:
        with pytest.raises(StoreError, match="central PostgreSQL"):
            apply_retention(engine, keep_days=30)
        assert ensure_partitions(engine) == []
    finally:
        engine.dispose()


def test_retention_refuses_less_than_a_day(engine: Engine) -> None:
    upgrade(engine)
    with pytest.raises(StoreError, match="at least 1"):
        apply_retention(engine, keep_days=0)


def test_upkeep_thread_creates_partitions_and_applies_retention(
        engine: Engine, pg_store: InspectionStore, make_inspection: MakeInspection) -> None:
    old = datetime.now(UTC) - timedelta(days=400)
    ensure_partitions(engine, months_ahead=0, now=old)
    assert pg_store.write([make_inspection(1, inspected_at=old)]) == 1
    with engine.begin() as conn:  # as if the months ahead had not been created yet
        this_month = month_start(datetime.now(UTC))
        conn.execute(text(f"DROP TABLE inspections_p{this_month:%Y_%m}"))

    with PartitionUpkeep(engine, keep_days=100, every_s=0.05):
        for _ in range(200):
            names = _names(engine)
            if f"inspections_p{this_month:%Y_%m}" in names and _count(engine) == 0:
                break
            threading.Event().wait(0.05)
    assert f"inspections_p{this_month:%Y_%m}" in _names(engine)
    assert f"inspections_p{month_start(old):%Y_%m}" not in _names(engine)
    assert _count(engine) == 0


def test_retention_command_drops_old_months(
        pg_url: str, engine: Engine, pg_store: InspectionStore, make_inspection: MakeInspection
) -> None:
    _fill_months(pg_store, make_inspection)  # 2025-01 .. 2025-04, long before "now"
    for m in (1, 2, 3, 4):
        ensure_partitions(engine, months_ahead=0, now=datetime(2025, m, 1, tzinfo=UTC))
    recent = datetime.now(UTC) - timedelta(hours=1)
    assert pg_store.write([make_inspection(500, inspected_at=recent)]) == 1

    result = CliRunner().invoke(app, ["retention", "--db", pg_url, "--keep-days", "30", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {f"inspections_p2025_0{m}" for m in (1, 2, 3, 4)} <= set(report["dropped"])
    assert report["deleted_rows"] == 1  # the 1990 stray
    assert [r.part_id for page in pg_store.pages(_everything()) for r in page] == ["part-00500"]


def test_retention_command_refuses_a_station_sqlite(sqlite_db_url: str) -> None:
    result = CliRunner().invoke(app, ["retention", "--db", sqlite_db_url, "--keep-days", "30"])
    assert result.exit_code == 1
    assert "error: row retention is for the central PostgreSQL database" in result.output


def test_serve_refuses_row_retention_on_sqlite(sqlite_db_url: str) -> None:
    with pytest.raises(StoreError, match="central PostgreSQL"):
        PartitionUpkeep(create_engine_for(sqlite_db_url), keep_days=30)
    result = CliRunner().invoke(app, ["serve", "--db", sqlite_db_url, "--keep-days", "30"])
    assert result.exit_code == 1
    assert "row retention is for the central PostgreSQL database" in result.output


def test_a_busy_table_does_not_stop_a_store_from_opening(
        pg_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    upgrade(engine)
    last = _names(engine)[-1]
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {last}"))  # as if the months ahead had run out
    monkeypatch.setattr("inspector.storage.partitions.LOCK_TIMEOUT", "200ms")
    with engine.connect() as reader:  # a long query holds the table
        reader.execute(text("SELECT count(*) FROM inspections"))
        store = InspectionStore.open(pg_url)  # cannot create the partition now, opens anyway
        store.close()
    assert "partitions ahead not created" in caplog.text
    assert last not in _names(engine)
    upgrade(engine)  # the next try, with the table free
    assert last in _names(engine)
