"""The result worker: every stored row once and in order, few store reads while rows keep coming."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from inspector.domain import Inspection, SerialSource, Status, Verdict
from inspector.lineio.payloads import result_payload
from inspector.lineio.sender import ResultSender, SenderSettings
from inspector.storage.delivery import DeliveryStore
from inspector.storage.engine import sqlite_url
from inspector.storage.store import InspectionStore

STATION = "s1"


class CountingStore(DeliveryStore):
    """The real SQLite delivery store, counting the worker's reads."""

    id_reads = row_reads = rows_read = 0

    def ids_after(self, station_id, after_id, limit):
        type(self).id_reads += 1
        return super().ids_after(station_id, after_id, limit)

    def rows_by_id(self, station_id, ids):
        type(self).row_reads += 1
        type(self).rows_read += len(ids)
        return super().rows_by_id(station_id, ids)


@dataclass
class Receipt:
    answered: bool = False
    refused: bool = False

    def is_published(self) -> bool:
        return self.answered


class Transport:
    """Takes every row; answers each at once, or when `answer_all` is called (a slow broker).
    Each answer wakes the worker, as the MQTT line's on_publish does."""

    def __init__(self, answer_at_once: bool = True) -> None:
        self.answer_at_once = answer_at_once
        self.sent: list[tuple[int, Inspection, float]] = []
        self.receipts: list[Receipt] = []
        self.lock = threading.Lock()
        self.wake = lambda: None

    def __call__(self, row_id: int, row: Inspection) -> Receipt:
        receipt = Receipt(answered=self.answer_at_once)
        with self.lock:
            self.sent.append((row_id, row, time.monotonic()))
            self.receipts.append(receipt)
        if self.answer_at_once:
            self.wake()
        return receipt

    def answer_all(self) -> None:
        with self.lock:
            for receipt in self.receipts:
                receipt.answered = True
        self.wake()

    def ids(self) -> list[int]:
        with self.lock:
            return [row_id for row_id, _, _ in self.sent]


def _row(i: int, station: str = STATION, **changes) -> Inspection:
    now = datetime.now(UTC)
    values = dict(captured_at=now, inspected_at=now, label="crack", defect_score=0.9,
                  scores={"crack": 0.9, "good": 0.1}, model_version="m1", latency_ms=12.5,
                  part_ref=f"R{station}{i}")
    values.update(changes)
    return Inspection(f"p-{station}-{i}", station, f"SN{i}", SerialSource.TRIGGER,
                      status=Status.OK, verdict=Verdict.NG, **values)


@pytest.fixture
def stores(tmp_path):
    CountingStore.id_reads = CountingStore.row_reads = CountingStore.rows_read = 0
    url = sqlite_url(tmp_path)
    writer = InspectionStore.open(url)
    yield writer, (lambda: CountingStore.open(url))
    writer.close()


def _sender(open_store, send, **settings) -> ResultSender:
    values = dict(poll_interval_s=10.0, linger_s=0.05, save_interval_s=0.1)
    values.update(settings)
    sender = ResultSender(SenderSettings(STATION, "mqtt", **values), open_store, send,
                          lambda: True)
    send.wake = sender.wake
    sender.start()
    sender.wake()  # as the line's connection does: the worker loads its cursor
    assert sender.ready.wait(10)
    return sender


def _wait(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def _stored_ids(open_store) -> list[int]:
    store = open_store()
    try:
        return [row_id for row_id, _ in store.ids_after(STATION, 0, 10_000)]
    finally:
        store.close()


def test_a_stream_is_sent_whole_in_order_from_few_store_reads(stores):
    """300 rows committed in small batches and offered one by one, like the station's writer:
    each sent once, in insertion order, and the worker reads the store a few times a second
    (one read per linger), not once per row; the content comes from the offered rows."""
    writer, open_store = stores
    send = Transport()
    sender = _sender(open_store, send)
    try:
        t0 = time.monotonic()
        for first in range(0, 300, 3):
            batch = [_row(i) for i in range(first, first + 3)]
            writer.write(batch)
            writer.write([_row(i, station="other") for i in range(first, first + 1)])
            for row in batch:
                sender.offer(row)
            time.sleep(0.005)
        assert _wait(lambda: sender.delivered == 300)
        elapsed = time.monotonic() - t0
    finally:
        sender.close()
    ids = _stored_ids(open_store)
    assert send.ids() == ids and len(ids) == 300  # once each, in order, no other station's
    assert CountingStore.id_reads <= min(elapsed / 0.05 + 5, 150), (CountingStore.id_reads, elapsed)
    assert CountingStore.rows_read <= 30  # the content of the others from memory (an offer
    # can come just after the read that finds its row: that row is read from the store)
    assert sender.cursor == ids[-1] and sender.backlog == 0
    store = open_store()
    try:
        assert store.cursor(STATION, "mqtt") == ids[-1]  # saved at stop
    finally:
        store.close()


def test_a_lone_row_goes_at_once_and_the_next_ones_together_after_the_linger(stores):
    writer, open_store = stores
    send = Transport()
    sender = _sender(open_store, send, linger_s=1.0)
    try:
        time.sleep(0.2)  # quiet
        writer.write([_row(0)])
        t0 = time.monotonic()
        sender.offer(_row(0))
        assert _wait(lambda: len(send.ids()) == 1, 5)
        first_at = send.sent[0][2]
        assert first_at - t0 < 0.5  # not held for the 1 s linger
        reads = CountingStore.id_reads
        for i in (1, 2, 3):
            time.sleep(0.1)
            writer.write([_row(i)])
            sender.offer(_row(i))
        assert _wait(lambda: len(send.ids()) == 4, 5)
        later = [at - first_at for _, _, at in send.sent[1:]]
        assert all(0.9 <= d < 2.0 for d in later), later  # after the linger, one step
        assert CountingStore.id_reads - reads == 1
    finally:
        sender.close()
    assert send.ids() == _stored_ids(open_store)


def test_rows_never_offered_are_sent_from_the_store_with_the_same_message(stores):
    """Rows stored without an offer (a journal replay, a full queue) come from the store; an
    offered row's message equals the one its stored row makes (UTC times, plain floats)."""
    writer, open_store = stores
    plus2 = timezone(timedelta(hours=2))
    offered = _row(0, captured_at=datetime(2026, 1, 1, 12, 0, tzinfo=plus2),
                   defect_score=np.float32(0.7), latency_ms=float("nan"))
    silent = [_row(i) for i in range(1, 6)]
    send = Transport()
    sender = _sender(open_store, send, poll_interval_s=0.2)
    try:
        writer.write([offered, *silent])
        sender.offer(offered)
        assert _wait(lambda: sender.delivered == 6)
    finally:
        sender.close()
    store = open_store()
    try:
        stored = dict(store.rows_by_id(STATION, [row_id for row_id, _, _ in send.sent]))
    finally:
        store.close()
    assert [row.part_id for _, row, _ in send.sent] == [r.part_id for r in [offered, *silent]]
    for row_id, row, _ in send.sent:
        assert result_payload(row, row_id) == result_payload(stored[row_id], row_id)
    message = result_payload(send.sent[0][1], send.sent[0][0])
    assert message["captured_at"] == "2026-01-01T10:00:00+00:00" and message["latency_ms"] is None
    assert type(message["defect_score"]) is float
    assert CountingStore.row_reads >= 1


def test_a_full_window_waits_for_acknowledgements_and_loses_nothing(stores):
    """A slow broker: at most `max_inflight` unanswered; when answered the rest follows, all in
    order; the backlog counts what waits."""
    writer, open_store = stores
    send = Transport(answer_at_once=False)
    sender = _sender(open_store, send, max_inflight=8)
    try:
        rows = [_row(i) for i in range(30)]
        writer.write(rows)
        for row in rows:
            sender.offer(row)
        assert _wait(lambda: len(send.ids()) == 8)
        time.sleep(0.2)
        assert len(send.ids()) == 8 and sender.delivered == 0
        assert _wait(lambda: sender.backlog == 30, 5)
        for _ in range(10):
            send.answer_all()
            if _wait(lambda: sender.delivered == 30, 0.5):
                break
        assert sender.delivered == 30
    finally:
        sender.close()
    assert send.ids() == _stored_ids(open_store)
