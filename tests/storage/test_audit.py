"""AuditLog: append-only entries, newest first, cursor pages, filters; SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inspector.errors import StoreError
from inspector.storage.audit import AuditLog
from inspector.storage.store import InspectionStore


@pytest.fixture
def audit(store: InspectionStore) -> Iterator[AuditLog]:
    yield AuditLog(store.engine)


def test_an_entry_keeps_who_what_and_before_after(audit):
    entry = audit.record("alice", "model.activate", "tile-v2", before={"model": "tile-v1"},
                         after={"model": "tile-v2", "thresholds": [0.2, 0.5]}, station_id="st-1")
    assert entry.id is not None and entry.at is not None and entry.at.tzinfo is not None
    (stored,), _ = audit.list(limit=1)
    assert stored == entry
    assert stored.before == {"model": "tile-v1"}
    assert stored.after == {"model": "tile-v2", "thresholds": [0.2, 0.5]}


def test_pages_are_newest_first_and_the_cursor_walks_them_all(audit):
    for i in range(5):
        audit.record("bob", "review", f"part-{i}", before=None, after={"label": "crack"})
    seen, cursor = [], None
    while True:
        page, cursor = audit.list(limit=2, cursor=cursor)
        seen += [e.target for e in page]
        if cursor is None:
            break
    assert seen == [f"part-{i}" for i in reversed(range(5))]


def test_filters_by_action_and_actor(audit):
    audit.record("alice", "key.create", "k1")
    audit.record("bob", "key.create", "k2")
    audit.record("alice", "review", "p1")
    assert [e.target for e in audit.list(action="key.create")[0]] == ["k2", "k1"]
    assert [e.target for e in audit.list(actor="alice")[0]] == ["p1", "k1"]
    assert [e.target for e in audit.list(action="review", actor="bob")[0]] == []


def test_a_bad_cursor_or_limit_is_a_clear_error(audit):
    with pytest.raises(StoreError, match="invalid audit page cursor"):
        audit.list(cursor="not-a-cursor")
    with pytest.raises(StoreError, match="limit must be between"):
        audit.list(limit=0)


def test_the_log_has_no_way_to_change_or_remove_an_entry():
    public = {name for name in vars(AuditLog) if not name.startswith("_")}
    assert public == {"record", "list"}
