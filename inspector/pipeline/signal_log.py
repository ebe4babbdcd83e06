"""SignalLog: rows journaled before a fast-path output announces them, settled once stored."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from inspector.domain import Inspection
from inspector.storage.journal import Journal


class SignalLog:
    """The reject signal's fast path: a part's row is fsynced here before the line hears of it.

    The store writer settles part ids once their rows are committed or journaled; when none is
    left unsettled the file is emptied, so it holds only the last few parts in normal running.
    After a crash, the rows still in it are replayed into the store on start: a signalled part
    always has its row, and the row says what was signalled.
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._lock = threading.Lock()
        self._unsettled: set[str] = set()

    def record(self, rows: Sequence[Inspection]) -> None:
        """Durably keep rows about to be signalled; raises StoreError when it cannot."""
        with self._lock:
            self.journal.append(rows)
            self._unsettled.update(r.part_id for r in rows)

    def settled(self, part_ids: Iterable[str]) -> None:
        """These parts' rows are safe elsewhere; empty the file when nothing else waits."""
        with self._lock:
            if not self._unsettled:
                return
            self._unsettled.difference_update(part_ids)
            if not self._unsettled:
                self.journal.clear()

    @property
    def unsettled(self) -> int:
        with self._lock:
            return len(self._unsettled)
