"""Event validation and idempotent, partial-bad batch ingestion (SQLite; PostgreSQL if set)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from inspector.errors import TraceError
from inspector.storage.events import EventStore
from inspector.storage.store import InspectionStore
from inspector.trace.ingest import ingest_events, ingest_payload, validate_event

T0 = "2024-05-01T08:00:00+02:00"


def _event(serial: str = "SN-1", ts: str = T0, **params) -> dict:
    return {"serial": serial, "machine": "kiln-2", "step": "firing", "timestamp": ts,
            "parameters": params or {"temp": 871.5, "zone": "A", "cycle": 3}}


def test_valid_event_is_converted_to_utc() -> None:
    event = validate_event(_event())
    assert event.ts == datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
    assert event.parameters == {"temp": 871.5, "zone": "A", "cycle": 3}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timestamp": "2024-05-01T08:00:00"}, "timestamp: has no time zone"),
        ({"timestamp": "yesterday"}, "timestamp: 'yesterday' is not ISO 8601"),
        ({"timestamp": 1714550400}, "timestamp: must be an ISO 8601 string"),
        ({"serial": ""}, "serial: String should have at least 1 character"),
        ({"machine": None}, "machine: Input should be a valid string"),
        ({"parameters": {"ok": True}}, "parameters: 'ok' must be a number or a string, got bool"),
        ({"parameters": {"t": [1]}}, "parameters: 't' must be a number or a string, got list"),
        ({"params": {}}, "params: Extra inputs are not permitted"),
        ({"serial": "SN\x001"}, "serial: String should match pattern"),
        ({"parameters": {"zone": "A\x00"}}, "parameters: 'zone' holds a NUL character"),
        ({"parameters": {"z\x00": 1}}, "parameters.z\x00"),  # the key itself
        ({"timestamp": "9999-12-31T23:59:59-12:00"}, "timestamp: 9999-12-31T23:59:59-12:00 is outside"),
    ],
)
def test_invalid_events_get_a_clear_message(change: dict, message: str) -> None:
    with pytest.raises(TraceError, match="^" + message.replace("(", r"\(")):
        validate_event({**_event(), **change})


def test_non_object_event_is_rejected() -> None:
    with pytest.raises(TraceError, match="must be a JSON object, got list"):
        validate_event([1, 2])


def _check_idempotent_and_partial(events: EventStore, p: str = "SN") -> None:
    batch = [_event(f"{p}-1"), _event(f"{p}-2"), {"serial": f"{p}-3"},
             _event(f"{p}-4", ts="bad"), _event(f"{p}-1")]  # the last repeats the first
    result = ingest_events(events, batch)
    assert (result.received, result.stored, result.duplicates, result.rejected) == (5, 2, 1, 2)
    assert [e.index for e in result.errors] == [2, 3]
    assert "machine: Field required" in result.errors[0].message
    assert len(events.for_serial(f"{p}-1")) == len(events.for_serial(f"{p}-2")) == 1
    again = ingest_events(events, batch[:2])
    assert (again.stored, again.duplicates) == (0, 2)
    same_instant = _event(f"{p}-1", ts="2024-05-01T06:00:00Z")  # same time, other zone
    assert ingest_events(events, [same_instant]).duplicates == 1
    stored = events.for_serial(f"{p}-1")
    assert len(stored) == 1 and stored[0].parameters == {"temp": 871.5, "zone": "A", "cycle": 3}
    assert stored[0].received_at is not None


def test_ingestion_is_idempotent_and_keeps_good_events_of_a_bad_batch(
    events: EventStore,
) -> None:
    _check_idempotent_and_partial(events)


def test_ingestion_on_postgresql() -> None:
    url = os.environ.get("INSPECTOR_TEST_PG_URL")
    if not url:
        pytest.skip("INSPECTOR_TEST_PG_URL is not set (e.g. postgresql+psycopg://postgres@"
                    "127.0.0.1:5432/test)")
    store = InspectionStore.open(url)
    prefix = f"T{uuid.uuid4().hex[:12]}"  # the database is shared: touch only our own rows
    try:
        _check_idempotent_and_partial(EventStore(store.engine), prefix)
    finally:
        with store.engine.begin() as conn:
            conn.execute(text("DELETE FROM process_events WHERE serial LIKE :p"),
                         {"p": prefix + "-%"})
        store.close()


def test_payload_is_one_object_or_an_array(events: EventStore) -> None:
    assert ingest_payload(events, _event("SN-9")).stored == 1
    assert ingest_payload(events, [_event("SN-8"), _event("SN-9")]).stored == 1
    with pytest.raises(TraceError, match="event object or an array"):
        ingest_payload(events, "hello")


def test_for_serial_returns_events_in_time_order(events: EventStore) -> None:
    base = datetime(2024, 5, 1, tzinfo=UTC)
    batch = [_event("SN-5", ts=(base + timedelta(minutes=m)).isoformat()) for m in (30, 5, 20)]
    ingest_events(events, batch)
    times = [e.ts for e in events.for_serial("SN-5")]
    assert times == sorted(times) and len(times) == 3
