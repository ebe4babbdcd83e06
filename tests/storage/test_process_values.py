"""process_values: ingest types each event's parameters once; the migration backfills; corrections follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text

from inspector.storage.block_window import BlockWindow
from inspector.storage.engine import create_engine_for
from inspector.storage.events import EventStore, ProcessEvent
from inspector.storage.migrate import upgrade
from inspector.storage.rootcause_blocks import HourBlocks
from inspector.storage.store import InspectionStore
from inspector.storage.tables import process_events
from tests.storage.conftest import MakeInspection

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
PARAMS = {"temp": 851.5, "count": 7, "tool": "T06", "flag": True, "gap": None, "note": " n/a "}
# what each parameter becomes: (kind, num, txt); null and 'n/a' get no row
TYPED = {"temp": ("real", 851.5, None), "count": ("integer", 7.0, None),
         "tool": ("text", None, "T06"), "flag": ("boolean", None, "True")}


def _values(engine, serial: str = "S1") -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, kind, num, txt, step, machine FROM process_values "
                                 "WHERE serial = :s"), {"s": serial}).all()
    return {r[0]: tuple(r[1:]) for r in rows}


def test_ingest_types_every_parameter_once(db_url: str) -> None:
    store = InspectionStore.open(db_url)
    try:
        EventStore(store.engine).insert([ProcessEvent("S1", "kiln-2", "firing", T0, PARAMS)])
        got = _values(store.engine)
        assert {k: v[:3] for k, v in got.items()} == TYPED
        assert {v[3:] for v in got.values()} == {("firing", "kiln-2")}
    finally:
        store.close()


def test_a_corrected_event_replaces_its_values(db_url: str) -> None:
    store = InspectionStore.open(db_url)
    try:
        events = EventStore(store.engine)
        events.insert([ProcessEvent("S1", "kiln-2", "firing", T0, {"temp": 851.5, "tool": "T06"}),
                       ProcessEvent("S2", "kiln-2", "firing", T0, {"temp": 849.0})])
        written = events.write([ProcessEvent("S1", "kiln-2", "firing", T0, {"temp": 853.0})])
        assert written.revised == 1
        # the corrected version's values only: the old temperature and the dropped tool are gone
        assert {k: v[:3] for k, v in _values(store.engine).items()} == {
            "temp": ("real", 853.0, None)}
        assert _values(store.engine, "S2")["temp"][1] == 849.0   # others untouched
        events.write([ProcessEvent("S1", "kiln-2", "firing", T0, {"temp": 853.0})])  # same again
        assert _values(store.engine)["temp"][1] == 853.0
    finally:
        store.close()


def test_root_cause_counts_the_corrected_value(db_url: str,
                                              make_inspection: MakeInspection) -> None:
    """What root cause reads follows a correction (it reads process_values, not the JSON)."""
    store = InspectionStore.open(db_url)
    try:
        events = EventStore(store.engine)
        events.insert([ProcessEvent(f"S{i}", "kiln-1", "firing", T0 + timedelta(seconds=i),
                                    {"temp": 850.0}) for i in range(3)])
        events.write([ProcessEvent("S1", "kiln-1", "firing", T0 + timedelta(seconds=1),
                                   {"temp": 900.0})])
        store.write([make_inspection(i, serial=f"S{i}",
                                     inspected_at=T0 + timedelta(minutes=5, seconds=i))
                     for i in range(3)])
        blocks = HourBlocks(store.engine)
        counts = BlockWindow(blocks.read(T0, T0 + timedelta(hours=1), None), T0,
                             T0 + timedelta(hours=1), None, False, blocks.load_sequences).counts()
        hist = counts.numbers["firing.temp"]
        assert dict(zip(hist.values.tolist(), hist.parts.tolist(), strict=True)) == {
            850.0: 2, 900.0: 1}
    finally:
        store.close()


def test_the_migration_types_the_events_already_stored(db_url: str) -> None:
    upgrade(db_url, "0007")
    engine = create_engine_for(db_url)
    try:
        with engine.begin() as conn:  # stored before process_values existed
            conn.execute(insert(process_events), [
                {"serial": "S1", "machine": "kiln-2", "step": "firing", "ts": T0,
                 "parameters": PARAMS, "received_at": T0},
                {"serial": "S2", "machine": "press-1", "step": "pressing", "ts": T0,
                 "parameters": {"dwell": 1.75, "lot": "L7"}, "received_at": T0}])
        upgrade(db_url)
        assert {k: v[:3] for k, v in _values(engine).items()} == TYPED
        assert {k: v[:3] for k, v in _values(engine, "S2").items()} == {
            "dwell": ("real", 1.75, None), "lot": ("text", None, "L7")}
        # and a later insert fills it as ingest does
        EventStore(engine).insert([ProcessEvent("S3", "kiln-1", "firing", T0, {"t": 1})])
        assert _values(engine, "S3")["t"][:2] == ("integer", 1.0)
    finally:
        engine.dispose()
