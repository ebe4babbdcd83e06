"""The consumer threads: store writer (batches, journal, status row) and reject outputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.outputs.base import RejectOutput
from inspector.pipeline.buffers import Closed, Ring
from inspector.pipeline.metrics import MetricsRecorder
from inspector.pipeline.signal_log import SignalLog
from inspector.pipeline.workers import POLL_S, Worker
from inspector.storage.archive import ImageArchive
from inspector.storage.journal import Journal
from inspector.storage.rows import repair

logger = logging.getLogger(__name__)

RETENTION_INTERVAL_S = 600.0  # age-based image retention runs this often (size: on each save)

# Listener events: rows committed to the database, or spilled to the journal.
COMMITTED = "committed"
JOURNALED = "journaled"
Listener = Callable[[str, Sequence[Inspection]], None]


class Store(Protocol):
    """What the writer needs from InspectionStore."""

    def write(self, rows: Sequence[Inspection]) -> int: ...

    def set_station_status(self, station_id: str, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class WriterSettings:
    station_id: str
    batch_size: int = 32
    flush_interval_s: float = 0.5
    retry_interval_s: float = 5.0
    status_interval_s: float = 2.0


class StoreWriter(Worker):
    """Writes rows in batches, spills them to the journal when the database is away.

    The journal is replayed when the writer starts and retried every `retry_interval_s`
    while the database is away; the store is idempotent on part_id so a replay never
    duplicates. Only this thread touches the store.
    """

    name = "store"

    def __init__(
        self,
        settings: WriterSettings,
        rows: Ring[Inspection],
        store: Store | None,
        journal: Journal,
        archive: ImageArchive | None,
        recorder: MetricsRecorder,
        status: Callable[[], dict[str, Any]],
        open_store: Callable[[], Store] | None = None,
        announce: Ring[Inspection] | None = None,
    ) -> None:
        super().__init__()
        self.settings, self.rows, self.store, self.journal = settings, rows, store, journal
        self.archive, self.recorder, self.status, self.open_store = (
            archive, recorder, status, open_store)
        self.announce = announce  # rows for the outputs that speak only after the row is safe
        self.signal_log: SignalLog | None = None
        self.left_signals: Journal | None = None  # a crashed run's signalled rows, replayed once
        self.listeners: list[Listener] = []
        self.db_online = store is not None
        self._had_outage = False
        self._backlog: list[Inspection] = []  # rows neither DB nor journal took (retried)
        self._next_retry = self._next_status = self._next_retention = 0.0

    def run(self) -> None:
        self._recover()
        pending: list[Inspection] = []
        deadline = 0.0
        while True:
            try:
                limit = max(1, self.settings.batch_size - len(pending))
                rows = self.rows.get_many(limit, POLL_S)
            except Closed:
                break
            if rows and not pending:
                deadline = time.monotonic() + self.settings.flush_interval_s
            pending += rows
            full = len(pending) >= self.settings.batch_size
            if pending and (full or time.monotonic() >= deadline):
                self._flush(pending)
                pending = []
            self._periodic()
        self._flush(pending)
        self._publish_status()
        self._close_announce()

    def on_crash(self) -> None:
        self._close_announce()

    def _close_announce(self) -> None:
        if self.announce is not None:
            self.announce.close()

    # ---- steps ---------------------------------------------------------------------------

    def _flush(self, rows: list[Inspection]) -> None:
        rows = [repair(row) for row in self._backlog + rows]  # a bad value must not stall the writer
        self._backlog = []
        if not rows:
            return
        if self.db_online and self._write(rows):
            return
        try:
            self.journal.append(rows)
        except StoreError as exc:
            # Neither database nor journal: keep the rows in memory and retry on the next flush.
            logger.critical("cannot store %d rows anywhere (kept in memory): %s", len(rows), exc)
            self.recorder.error(str(exc))
            self._backlog = rows
            return
        self.recorder.stored(journaled=len(rows), pending=self._journal_pending())
        self._notify(JOURNALED, rows)

    def _write(self, rows: list[Inspection]) -> bool:
        assert self.store is not None
        try:
            self.store.write(rows)
        except StoreError as exc:
            self._set_offline(exc)
            return False
        self.recorder.stored(committed=len(rows))
        self._notify(COMMITTED, rows)
        return True

    def _set_offline(self, exc: StoreError) -> None:
        if self.db_online or not self._had_outage:
            logger.error("database unavailable, journaling rows: %s", exc)
        self._had_outage = True
        self.db_online = False
        self.recorder.set_db_online(False)
        self.recorder.error(str(exc))
        self._next_retry = time.monotonic() + self.settings.retry_interval_s

    def _recover(self) -> None:
        """Open the store if needed and replay the journal; on success the DB is online."""
        self.recorder.stored(pending=self._journal_pending())
        try:
            if self.store is None:
                if self.open_store is None:
                    return
                self.store = self.open_store()
            replayed = self.journal.replay(self.store)
            replayed += self._replay_left_signals()
        except StoreError as exc:
            self._set_offline(exc)
            return
        if replayed:
            logger.info("replayed %d journaled rows into the database", replayed)
        if self._had_outage and not self.db_online:
            logger.warning("database available again")
        self.db_online = True
        self.recorder.set_db_online(True)
        self.recorder.stored(pending=self._journal_pending())

    def _replay_left_signals(self) -> int:
        """Rows a crashed run signalled but had not stored: stored now (idempotent), then dropped."""
        if self.left_signals is None:
            return 0
        replayed = self.left_signals.replay(self.store)
        self.left_signals.path.unlink(missing_ok=True)
        self.left_signals = None
        return replayed

    def _journal_pending(self) -> int:
        try:
            return self.journal.pending()
        except StoreError as exc:
            logger.warning("cannot read journal: %s", exc)
            return -1

    def _periodic(self) -> None:
        now = time.monotonic()
        if not self.db_online and now >= self._next_retry:
            self._next_retry = now + self.settings.retry_interval_s
            self._recover()
        if now >= self._next_status:
            self._next_status = now + self.settings.status_interval_s
            self._publish_status()
        if self.archive is not None and now >= self._next_retention:
            self._next_retention = now + RETENTION_INTERVAL_S
            self.archive.enforce_retention()

    def _publish_status(self) -> None:
        if not self.db_online or self.store is None:
            return
        try:
            self.store.set_station_status(self.settings.station_id, self.status())
        except StoreError as exc:
            self._set_offline(exc)

    def _notify(self, event: str, rows: Sequence[Inspection]) -> None:
        """The rows are safe: settle their signals, announce them, then call the listeners."""
        if self.signal_log is not None:
            self.signal_log.settled(r.part_id for r in rows)
        if self.announce is not None:
            for row in rows:
                if not self.announce.put(row):
                    self.recorder.drop("announce_full")
        for listener in self.listeners:
            try:
                listener(event, rows)
            except Exception:  # a listener's bug must not stop storage
                logger.exception("store listener failed")


class OutputWorker(Worker):
    """Tells every output each part's verdict; a failing output never stops it.

    With a SignalLog (the fast path of the reject signal) each batch of rows is fsynced there
    before any output hears of it; without one, the rows come from the store writer, already
    committed or journaled.
    """

    def __init__(self, name: str, queue: Ring[Inspection], outputs: Sequence[RejectOutput],
                 recorder: MetricsRecorder, signal_log: SignalLog | None = None) -> None:
        self.name = name
        super().__init__()
        self.queue, self.outputs, self.recorder = queue, list(outputs), recorder
        self.signal_log = signal_log

    def run(self) -> None:
        while True:
            try:
                rows = self.queue.get_many(64, POLL_S)
            except Closed:
                break
            if rows:
                self._record(rows)
                for row in rows:
                    self._emit(row)
        self._close()

    def _record(self, rows: list[Inspection]) -> None:
        if self.signal_log is None:
            return
        try:
            self.signal_log.record(rows)
        except StoreError as exc:
            # Signalling anyway: a defective part that is not ejected is worse than a signal
            # whose row may be lost in a crash now. Loud, counted.
            logger.critical("cannot journal %d rows before signalling them: %s", len(rows), exc)
            self.recorder.error(str(exc))

    def _emit(self, row: Inspection) -> None:
        for output in self.outputs:
            try:
                output.emit(row)
            except Exception:  # a plug-in boundary: count, log with traceback, carry on
                logger.exception("output %s failed on part %s", type(output).__name__, row.part_id)
                self.recorder.output_failed()

    def _close(self) -> None:
        for output in self.outputs:
            close = getattr(output, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    logger.exception("closing output %s", type(output).__name__)
