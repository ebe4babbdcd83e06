"""Forwarding: the station's queue, the central upsert, resume after a crash, heartbeat, backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from inspector.errors import StoreError
from inspector.storage.audit import AuditLog
from inspector.storage.engine import create_engine_for, sqlite_url
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.forward_central import Contact, store_batch
from inspector.storage.forward_queue import ForwardQueue
from inspector.storage.forwarder import Forwarder, ForwardSettings, backoff_delay
from inspector.storage.review import Review, ReviewStore
from inspector.storage.store import InspectionStore
from inspector.storage.tables import (
    audit_log,
    forward_queue,
    inspection_rollups,
    inspections,
    process_events,
    stations,
)
from tests.storage.conftest import T0, MakeInspection


@pytest.fixture
def station(tmp_path: Path) -> Iterator[InspectionStore]:
    s = InspectionStore.open(sqlite_url(tmp_path / "station"))
    yield s
    s.close()


@pytest.fixture
def central_url(db_url: str) -> str:
    """The central database: SQLite always, PostgreSQL (own schema) when INSPECTOR_TEST_PG_URL is
    set, for what the two could store differently; outage and SIGKILL are in test_forward_pg."""
    return db_url


@pytest.fixture
def sqlite_central(tmp_path: Path) -> str:
    """A SQLite central database, for the forwarder's own behaviour (the dialect plays no part)."""
    return sqlite_url(tmp_path / "central")


def settings(central: str, **kw: object) -> ForwardSettings:
    values: dict[str, object] = {"station_id": "st-1", "central_url": central,
                                 "api_url": "http://st-1:8080", "batch_rows": 7,
                                 "heartbeat_s": 0.2, "backoff_start_s": 0.05, "backoff_max_s": 0.2}
    values.update(kw)
    return ForwardSettings(**values)  # type: ignore[arg-type]


def forward_all(station: InspectionStore, central: str, **kw: object) -> Forwarder:
    fwd = Forwarder(_url(station), settings(central, **kw))
    fwd.run(until_empty=True)
    fwd.close()
    return fwd


def _url(store: InspectionStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def central_counts(url: str) -> dict[str, int]:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            def count(table):
                return conn.execute(select(func.count()).select_from(table)).scalar_one()
            distinct = conn.execute(select(func.count(inspections.c.part_id.distinct()))).scalar_one()
            rolled = conn.execute(select(func.coalesce(func.sum(inspection_rollups.c.parts), 0))
                                  ).scalar_one()
            return {"inspections": count(inspections), "distinct": distinct, "rollups": rolled,
                    "events": count(process_events), "audit": count(audit_log)}
    finally:
        engine.dispose()


def queued(store: InspectionStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(forward_queue)).scalar_one()


def event(i: int, value: float = 1.0) -> ProcessEvent:
    return ProcessEvent(serial=f"SN{i:05d}", machine="press", step="form",
                        ts=T0 + timedelta(seconds=i) - timedelta(minutes=1),
                        parameters={"force_kn": value})


def test_a_database_that_does_not_forward_queues_nothing(station: InspectionStore,
                                                         make_inspection: MakeInspection) -> None:
    station.write([make_inspection(i) for i in range(5)])
    assert queued(station) == 0
    assert ForwardQueue(station.engine).lag().enabled is False


def test_everything_reaches_the_central_database_once(
        station: InspectionStore, central_url: str, make_inspection: MakeInspection) -> None:
    station.write([make_inspection(i) for i in range(10)])     # before forwarding: caught up
    ForwardQueue(station.engine).enable("st-1", "central")
    station.write([make_inspection(i) for i in range(10, 30)])  # after: the triggers queue them
    EventStore(station.engine).write([event(i) for i in range(30)])
    AuditLog(station.engine).record("cli:tester", "key.create", target="k1")
    ReviewStore(station.engine).record(Review("part-00003", "crack", "chipped edge", "alice"))

    fwd = forward_all(station, central_url)

    assert central_counts(central_url) == {"inspections": 30, "distinct": 30, "rollups": 30,
                                           "events": 30, "audit": 2}
    assert queued(station) == 0
    central = InspectionStore.open(central_url)
    try:
        reviewed = central.get("part-00003")
        assert reviewed is not None and reviewed.review_label == "crack"
        assert reviewed.reviewed_by == "alice"
        with central.engine.connect() as conn:
            row = conn.execute(select(stations)).mappings().one()
            actors = set(conn.execute(select(audit_log.c.station_id)).scalars())
            order = list(conn.execute(select(inspections.c.part_id).order_by(inspections.c.id))
                         .scalars())
    finally:
        central.close()
    assert row["station_id"] == "st-1" and row["api_url"] == "http://st-1:8080"
    assert order == [f"part-{i:05d}" for i in range(30)]   # in the station's order
    assert row["lag_rows"] == 0
    assert row["forwarder"]["entries"] == fwd.stats.entries > 0   # counted with the last batch
    assert row["forwarder"]["batches"] == fwd.stats.batches and row["forwarder"]["errors"] == 0
    assert actors == {"st-1"}   # an audit entry without a station is the forwarding station's


def test_a_batch_shipped_twice_is_stored_once(
        station: InspectionStore, central_url: str, make_inspection: MakeInspection) -> None:
    """A crash after the central commit and before the local delete re-ships the batch."""
    queue = ForwardQueue(station.engine)
    queue.enable("st-1", "central")
    station.write([make_inspection(i) for i in range(12)])
    EventStore(station.engine).write([event(i) for i in range(12)])
    AuditLog(station.engine).record("cli:tester", "key.create", target="k1")
    batch = queue.read(100)
    contact = Contact("st-1", None, 0, 0.0, {})
    central = InspectionStore.open(central_url)   # migrated like every database
    try:
        with central.engine.begin() as conn:
            first = store_batch(conn, batch, contact)
        with central.engine.begin() as conn:      # the "crash": same batch again
            again = store_batch(conn, batch, contact)
    finally:
        central.close()
    assert (first.inspections, first.events, first.audit) == (12, 12, 1)
    assert (again.inspections, again.events, again.audit) == (0, 0, 0)
    assert again.refreshed == 0   # no review to carry over
    forward_all(station, central_url)             # and the forwarder ships it a third time
    assert central_counts(central_url) == {"inspections": 12, "distinct": 12, "rollups": 12,
                                           "events": 12, "audit": 1}


def test_a_corrected_event_and_a_later_review_replace_the_central_copy(
        station: InspectionStore, central_url: str, make_inspection: MakeInspection) -> None:
    ForwardQueue(station.engine).enable("st-1", "central")
    station.write([make_inspection(1)])
    EventStore(station.engine).write([event(1, 1.0)])
    forward_all(station, central_url)
    EventStore(station.engine).write([event(1, 2.5)])   # a corrected re-import
    station.set_review_label("part-00001", "scratch")
    forward_all(station, central_url)
    central = InspectionStore.open(central_url)
    try:
        assert [e.parameters for e in EventStore(central.engine).for_serial("SN00001")] == [
            {"force_kn": 2.5}]
        part = central.get("part-00001")
        assert part is not None and part.review_label == "scratch"
    finally:
        central.close()
    assert central_counts(central_url)["rollups"] == 1


def test_lost_triggers_are_mended_and_everything_requeued(
        station: InspectionStore, sqlite_central: str, make_inspection: MakeInspection) -> None:
    queue = ForwardQueue(station.engine)
    queue.enable("st-1", "central")
    with station.engine.begin() as conn:   # what a table rebuild by a later migration does
        conn.execute(text("DROP TRIGGER forward_inspections_insert"))
    station.write([make_inspection(i) for i in range(4)])
    assert queued(station) == 0 and not queue.healthy()
    forward_all(station, sqlite_central)
    assert queue.healthy()
    assert central_counts(sqlite_central)["inspections"] == 4


def test_lag_counts_rows_and_the_age_of_the_oldest(
        station: InspectionStore, make_inspection: MakeInspection) -> None:
    queue = ForwardQueue(station.engine)
    queue.enable("st-1", "central")
    station.write([make_inspection(i) for i in range(6)])
    lag = queue.lag()
    assert lag.enabled and lag.rows == 6
    assert lag.oldest_at is not None
    assert 0 <= lag.seconds() < 60
    assert lag.seconds(lag.oldest_at + timedelta(seconds=90)) == pytest.approx(90)
    assert queue.disable() == 6
    assert queue.lag() == queue.lag().__class__(False, 0, None)
    station.write([make_inspection(7)])
    assert queued(station) == 0


def test_heartbeat_moves_last_contact_when_idle(station: InspectionStore, sqlite_central: str) -> None:
    fwd = Forwarder(_url(station), settings(sqlite_central, heartbeat_s=0.05))
    try:
        fwd.step()
        first = _last_contact(sqlite_central)
        deadline = datetime.now(UTC) + timedelta(seconds=5)
        while _last_contact(sqlite_central) == first and datetime.now(UTC) < deadline:
            time.sleep(0.06)
            fwd.step()
    finally:
        fwd.close()
    assert _last_contact(sqlite_central) > first


def _last_contact(url: str) -> datetime:
    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(stations.c.last_contact_at)).scalar_one()
    finally:
        engine.dispose()


def test_the_status_row_is_mirrored(station: InspectionStore, sqlite_central: str) -> None:
    station.set_station_status("st-1", {"running": True, "camera_state": "online"})
    forward_all(station, sqlite_central)
    central = InspectionStore.open(sqlite_central)
    try:
        assert central.station_status("st-1") == {"running": True, "camera_state": "online"}
    finally:
        central.close()


def test_an_unreachable_central_database_is_a_store_error_fast(
        station: InspectionStore, make_inspection: MakeInspection) -> None:
    """Nothing listens on port 9: refused at once, the station's writes are untouched."""
    fwd = Forwarder(_url(station), settings("postgresql+psycopg://postgres@127.0.0.1:9/none"))
    try:
        station.write([make_inspection(i) for i in range(3)])
        started = datetime.now(UTC)
        with pytest.raises(StoreError, match=r"127\.0\.0\.1:9"):
            fwd.step()
        assert datetime.now(UTC) - started < timedelta(seconds=5)
    finally:
        fwd.close()
    assert queued(station) == 3   # enabled by the forwarder, everything still queued


def test_backoff_doubles_up_to_its_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.5, 10.0, rng) for n in range(1, 12)]
    assert 0.4 <= delays[0] <= 0.6
    assert 0.8 <= delays[1] <= 1.2
    assert all(d <= 10.0 for d in delays)
    assert delays[-1] >= 8.0


def test_forwarding_needs_a_sqlite_station(central_url: str) -> None:
    """A PostgreSQL station database is refused with a clear error (no triggers there)."""
    engine = create_engine_for("postgresql+psycopg://postgres@127.0.0.1:9/none")
    try:
        with pytest.raises(StoreError, match="SQLite"):
            ForwardQueue(engine).enable("st-1", "central")
    finally:
        engine.dispose()


def test_a_central_database_newer_than_the_station_still_takes_its_rows(
        station: InspectionStore, central_url: str, make_inspection: MakeInspection) -> None:
    """The central service was upgraded first: its revision is unknown to this station's code."""
    InspectionStore.open(central_url).close()
    engine = create_engine_for(central_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    station.write([make_inspection(i) for i in range(3)])
    forward_all(station, central_url)
    assert central_counts(central_url)["inspections"] == 3


def test_the_settings_never_show_the_central_password() -> None:
    shown = repr(settings("postgresql+psycopg://inspector:s3cret@db/plant"))
    assert "s3cret" not in shown and "st-1" in shown
    fwd = Forwarder("sqlite://", settings("postgresql+psycopg://inspector:s3cret@db/plant"))
    assert "s3cret" not in fwd.central


def test_stopping_ships_what_is_queued_first(
        station: InspectionStore, sqlite_central: str, make_inspection: MakeInspection) -> None:
    """A station run that ends right after its last parts leaves them central, not queued."""
    fwd = Forwarder(_url(station), settings(sqlite_central, poll_s=30.0))
    fwd.start()
    deadline = time.monotonic() + 20
    while fwd.stats.last_contact_at is None and time.monotonic() < deadline:
        time.sleep(0.05)           # the forwarder's first (empty) step; then its long poll
    assert fwd.stats.last_contact_at is not None
    station.write([make_inspection(i) for i in range(15)])
    fwd.stop()
    assert central_counts(sqlite_central)["inspections"] == 15
    assert queued(station) == 0


def test_a_newer_review_wins_and_a_central_one_is_never_wiped(
        station: InspectionStore, central_url: str, make_inspection: MakeInspection) -> None:
    """A part reviewed centrally keeps that review when the station re-ships its row (a re-queue
    of everything); a review made later on the station replaces it."""
    station.write([make_inspection(1), make_inspection(2)])
    forward_all(station, central_url)
    central = InspectionStore.open(central_url)
    try:
        ReviewStore(central.engine).record(Review("part-00001", "crack", "seen centrally", "qe"))
        ForwardQueue(station.engine).enable("st-1", "another central")  # everything re-queued
        forward_all(station, central_url)
        kept = central.get("part-00001")
        assert kept is not None and kept.review_label == "crack" and kept.reviewed_by == "qe"
        ReviewStore(station.engine).record(Review("part-00001", "scratch", None, "operator"))
        forward_all(station, central_url)
        newer = central.get("part-00001")
        assert newer is not None and newer.review_label == "scratch"
        assert newer.reviewed_by == "operator"
    finally:
        central.close()
