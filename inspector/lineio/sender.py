"""ResultSender: delivers a station's stored rows in order after a cursor kept in the database."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.storage.delivery import DeliveryStore

logger = logging.getLogger(__name__)

BATCH = 256  # rows read from the store at a time


class Receipt(Protocol):
    """What a transport returns for one sent row: answered yet, and refused by the receiver?"""

    refused: bool  # answered without taking it (MQTT 5 reason code): the row is sent again

    def is_published(self) -> bool: ...


# Sends one row; returns its receipt, or None when the transport cannot take it now.
Send = Callable[[int, Inspection], Receipt | None]


@dataclass(frozen=True)
class SenderSettings:
    station_id: str
    output: str                 # the cursor's key
    queue_size: int = 1024
    max_inflight: int = 256
    save_interval_s: float = 0.5
    poll_interval_s: float = 1.0
    stop_timeout_s: float = 5.0
    # After a step that sent or settled rows, the worker waits this long before the next, so
    # that one store read and one wake take the rows and acknowledgements that came meanwhile.
    # A result waits at most this much longer; one after a quiet spell goes at once.
    linger_s: float = 0.05


class ResultSender:
    """A worker that sends every stored row once, in insertion order, and keeps a cursor.

    `offer(row)` (the station's output thread) never waits: the row goes on a bounded queue, or
    is counted in `queue_full` when it is full; either way the worker finds it in the store,
    which is the truth. The worker sends up to `max_inflight` unacknowledged rows; the cursor
    moves over each acknowledged prefix and is saved every `save_interval_s` and at stop. After
    a restart, rows after the saved cursor are sent again (consumers dedupe on part_id).

    What to send and in which order always comes from the store (ids and part ids after the
    last row sent); a row's content comes from the offered row in memory when there is one, and
    from the store otherwise (journal replays, a full queue, a restart). While rows keep coming
    the worker steps at most every `linger_s`, so one read serves many rows.
    """

    def __init__(self, settings: SenderSettings, open_store: Callable[[], DeliveryStore],
                 send: Send, connected: Callable[[], bool]) -> None:
        self.settings = settings
        self._open_store, self._send, self._connected = open_store, send, connected
        self._queue: queue.Queue[Inspection] = queue.Queue(settings.queue_size)
        self._offered: dict[str, Inspection] = {}  # part_id -> offered row not sent yet, oldest first
        self._news = True         # rows offered (or missed) since the last store read
        self._caught_up = False   # the last store read reached the newest row
        self._next_read = 0.0     # the store is read at least this often without news
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: DeliveryStore | None = None
        # row id -> (row, receipt), in order; the row is kept to send it again when refused
        self._inflight: OrderedDict[int, tuple[Inspection, Receipt]] = OrderedDict()
        self.window = settings.max_inflight  # unacknowledged rows at most (the broker may lower it)
        self.cursor = 0        # acknowledged up to (saved every save_interval_s)
        self._read_pos = 0     # sent up to
        self._saved = 0
        self._next_save = 0.0
        self._next_resend = 0.0
        self._next_measure = 0.0  # the backlog COUNT(*) runs this often, not on every wake
        self.sent = self.delivered = self.queue_full = self.backlog = self.refused = 0
        self.ready = threading.Event()  # the cursor is loaded
        self._created = datetime.now(UTC)

    # ---- any thread --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"lineio-{self.settings.output}",
                                            daemon=True)
            self._thread.start()

    def offer(self, row: Inspection) -> None:
        """A row is durable: wake the worker (never waits)."""
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.queue_full += 1
        self._news = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def limit_inflight(self, limit: int) -> None:
        """The transport's own limit of unacknowledged messages (MQTT 5 Receive Maximum)."""
        self.window = max(1, min(self.settings.max_inflight, limit))

    def close(self) -> None:
        """Wait (up to stop_timeout_s) for the broker's acknowledgements, then save the cursor."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.stop_timeout_s + 10.0)

    # ---- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._step() and self._caught_up:
                    # Coalesce: wakes during the linger (offers, acks) are served by one step.
                    # Not when behind: the window's acknowledgements must refill it at once.
                    self._stop.wait(self.settings.linger_s)
            except Exception:  # the worker's top: log with the traceback and go on
                logger.exception("result sender %s failed; retrying", self.settings.output)
                self._stop.wait(self.settings.poll_interval_s)
        self._finish()

    def _step(self) -> bool:
        """One round of work; True when it sent or acknowledged rows."""
        self._wake.wait(self.settings.poll_interval_s)
        self._wake.clear()
        self._drain()
        if self._store is None and not self._open():
            return False
        done = self._settle()
        if self._connected():
            done += self._fill()
        self._measure()
        return done > 0

    def _open(self) -> bool:
        s = self.settings
        try:
            store = self._open_store()
            cursor = store.cursor(s.station_id, s.output)
            if cursor is None:  # a new output sends the parts inspected since it was made
                cursor = store.last_id(s.station_id, before=self._created)
                store.save_cursor(s.station_id, s.output, cursor)
        except StoreError as exc:
            logger.warning("result output %s: database not available yet: %s", s.output, exc)
            return False
        self._store, self.cursor, self._read_pos, self._saved = store, cursor, cursor, cursor
        self.ready.set()
        logger.info("result output %s: delivering after row %d", s.output, cursor)
        return True

    def _drain(self) -> None:
        """Keep the announced rows' content; the store says what to send, and in which order."""
        offered, cap = self._offered, self.settings.queue_size
        try:
            while True:
                row = self._queue.get_nowait()
                offered[row.part_id] = row
                if len(offered) > cap:  # never found in the store yet (away, or stored later)
                    del offered[next(iter(offered))]
        except queue.Empty:
            pass

    def _fill(self, force: bool = False) -> int:
        """Send rows after the last one sent, up to the window of unacknowledged ones.

        The store is read when rows were offered since the last read, when that read did not
        reach the newest row, or every poll interval (rows stored without an offer)."""
        now, sent = time.monotonic(), 0
        if not (force or self._news or not self._caught_up or now >= self._next_read):
            return 0
        room = self.window - len(self._inflight)
        while room > 0:
            self._news, self._caught_up = False, False
            self._next_read = now + self.settings.poll_interval_s
            rows, more = self._next_rows(min(room, BATCH))
            for row_id, row in rows:
                receipt = self._send(row_id, row)
                if receipt is None:  # the transport cannot take more now: again later
                    return sent
                self._inflight[row_id] = (row, receipt)
                self._read_pos = row_id
                self.sent += 1
                sent += 1
                room -= 1
            if not more:
                self._caught_up = True
                return sent
        return sent

    def _next_rows(self, want: int) -> tuple[list[tuple[int, Inspection]], bool]:
        """Up to `want` rows after the last one sent (the offered row's content, else the
        store's), and whether more are stored after them."""
        assert self._store is not None
        station = self.settings.station_id
        ids = self._store.ids_after(station, self._read_pos, want + 1)  # one more: any left?
        self._drain()  # rows offered while the store was read
        rows = [(row_id, self._offered.pop(part_id, None)) for row_id, part_id in ids[:want]]
        missing = [row_id for row_id, row in rows if row is None]
        if missing:
            stored = self._store.rows_by_id(station, missing)
            # A row deleted between the two reads is gone: passed over, as one read would.
            rows = [(row_id, stored[row_id] if row is None else row) for row_id, row in rows
                    if row is not None or row_id in stored]
        return rows, len(ids) > want  # type: ignore[return-value]

    def _settle(self) -> int:
        """Move the cursor over the acknowledged prefix; save it when due. Returns how many."""
        self._resend_refused()
        settled = 0
        while self._inflight:
            row_id, (_, receipt) = next(iter(self._inflight.items()))
            if not receipt.is_published() or receipt.refused:
                break
            self._inflight.popitem(last=False)
            self.cursor = row_id
            self.delivered += 1
            settled += 1
        if self.cursor != self._saved and time.monotonic() >= self._next_save:
            self._save()
        return settled

    def _resend_refused(self) -> None:
        """Rows the receiver answered without taking them (over its quota, say) go again, in
        place: the cursor waits for them. At most once a poll interval, when connected."""
        if not self._connected() or time.monotonic() < self._next_resend:
            return
        for row_id, (row, receipt) in list(self._inflight.items()):
            if receipt.is_published() and receipt.refused:
                again = self._send(row_id, row)
                if again is None:
                    return
                self._inflight[row_id] = (row, again)
                self.refused += 1
                self.sent += 1
                self._next_resend = time.monotonic() + self.settings.poll_interval_s

    def _save(self) -> None:
        assert self._store is not None
        s = self.settings
        try:
            self._store.save_cursor(s.station_id, s.output, self.cursor)
        except StoreError as exc:
            logger.warning("result output %s: cannot save the cursor (%d): %s", s.output,
                           self.cursor, exc)
            return
        self._saved = self.cursor
        self._next_save = time.monotonic() + s.save_interval_s

    def _measure(self, force: bool = False) -> None:
        assert self._store is not None
        if self._caught_up and not force and self._connected():
            # The last read reached the newest row: what lies after the cursor is in flight.
            self.backlog = len(self._inflight)
            return
        now = time.monotonic()
        if now < self._next_measure and not force:
            return
        self._next_measure = now + self.settings.save_interval_s
        try:
            self.backlog = self._store.count_after(self.settings.station_id, self.cursor)
        except StoreError as exc:
            logger.debug("result output %s: cannot count the backlog: %s", self.settings.output, exc)

    def _finish(self) -> None:
        """At stop: rows already stored are sent (when connected); wait for their acks; save."""
        if self._store is None:
            return
        deadline = time.monotonic() + self.settings.stop_timeout_s
        try:
            while time.monotonic() < deadline and self._connected():
                self._settle()
                self._fill(force=True)
                if not self._inflight:
                    break
                time.sleep(0.02)
            self._settle()
            self._save()
            self._measure(force=True)  # the backlog left behind, as of now
        except StoreError as exc:
            logger.warning("result output %s: at stop: %s", self.settings.output, exc)
        finally:
            self._store.close()
        if self._inflight:
            logger.warning("result output %s: %d results not acknowledged at stop; they are "
                           "sent again at the next start", self.settings.output, len(self._inflight))
