"""Journal: inspections spilled to an fsynced JSON-lines file while the database is away."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from inspector.domain import Inspection
from inspector.errors import StoreError
from inspector.storage import rows as rowmap

logger = logging.getLogger(__name__)

REPLAY_BATCH = 500  # rows per store transaction during replay: bounds memory and lock time


class InspectionWriter(Protocol):
    """What replay needs from a store: an idempotent batch write."""

    def write(self, rows: Sequence[Inspection]) -> int: ...


class Journal:
    """Append-only JSON lines, one inspection per line, fsynced before append() returns.

    Replay hands the rows to the store (idempotent on part_id, so a crash between the store
    commit and the truncation never duplicates rows) and truncates only after every row is
    committed. Unreadable lines are copied to `<path>.bad` before truncation, never lost:
    a torn last line (power cut mid-append, so it was never acknowledged) is counted in
    `torn_lines`, damaged lines elsewhere in `bad_lines`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.bad_path = self.path.with_name(self.path.name + ".bad")
        self.torn_lines = 0
        self.bad_lines = 0
        self._lock = threading.Lock()  # append and replay may run on different threads
        self._pending: int | None = None  # counted once, then kept: metrics poll it often

    def append(self, rows: Sequence[Inspection]) -> None:
        """Durably record rows; raises StoreError when the journal itself cannot be written."""
        if not rows:
            return
        data = "".join(json.dumps(rowmap.to_json(r), allow_nan=False) + "\n" for r in rows)
        with self._lock:
            try:
                self._append_bytes(data.encode())
            except OSError as exc:
                raise StoreError(f"cannot write journal {self.path}: {exc}") from exc
            if self._pending is not None:
                self._pending += len(rows)
        logger.debug("journaled %d inspections to %s", len(rows), self.path)

    def pending(self) -> int:
        """Number of journaled lines not yet replayed (a torn last line counts).

        Counted from the file once, then kept up to date: one process owns a journal.
        """
        with self._lock:
            return self._count_pending()

    def rows(self) -> list[Inspection]:
        """The readable journaled rows, oldest first (unreadable lines are left to replay)."""
        with self._lock:
            return self._parse(self._read_lines())[0]

    def clear(self) -> None:
        """Empty the journal once every row in it is known to be stored elsewhere."""
        with self._lock:
            if self.path.exists():
                self._truncate()
            self._pending = 0

    def replay(self, store: InspectionWriter) -> int:
        """Write journaled rows into the store; returns how many rows were replayed.

        Raises StoreError (journal untouched) when the store cannot be written.
        """
        with self._lock:
            lines = self._read_lines()
            self._pending = len(lines)
            if not lines:
                return 0
            good, bad = self._parse(lines)
            inserted = 0
            for start in range(0, len(good), REPLAY_BATCH):
                inserted += store.write(good[start : start + REPLAY_BATCH])
            if bad:
                self._append_bad([line for _, line, _ in bad])
            self._truncate()
            self._pending = 0
            self._count_unreadable(bad, len(lines))
        logger.info(
            "replayed %d journaled inspections from %s (%d new, %d already stored, %d unreadable)",
            len(good), self.path, inserted, len(good) - inserted, len(bad),
        )
        return len(good)

    # --- steps ---------------------------------------------------------------------------

    def _count_pending(self) -> int:
        if self._pending is None:
            self._pending = len(self._read_lines())
        return self._pending

    def _read_lines(self) -> list[bytes]:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot read journal {self.path}: {exc}") from exc
        return [line for line in data.split(b"\n") if line.strip()] if data else []

    def _parse(
        self, lines: list[bytes]
    ) -> tuple[list[Inspection], list[tuple[int, bytes, Exception]]]:
        good: list[Inspection] = []
        bad: list[tuple[int, bytes, Exception]] = []
        for index, line in enumerate(lines):
            try:
                good.append(rowmap.from_json(json.loads(line)))
            except (ValueError, StoreError) as exc:  # JSONDecodeError is a ValueError
                bad.append((index, line, exc))
        return good, bad

    def _count_unreadable(self, bad: list[tuple[int, bytes, Exception]], total: int) -> None:
        """Count and log unreadable lines once they are safely kept in the .bad file."""
        for index, _line, exc in bad:
            if index == total - 1:
                self.torn_lines += 1
                logger.warning("skipped torn last line of journal %s: %s", self.path, exc)
            else:
                self.bad_lines += 1
                logger.error("skipped damaged line %d of journal %s: %s", index + 1, self.path, exc)

    def _append_bytes(self, data: bytes) -> None:
        existed = self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as f:
            if existed and f.tell() > 0 and not self._ends_with_newline():
                f.write(b"\n")  # a torn line stays on its own and never swallows this row
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not existed:
            _fsync_dir(self.path.parent)  # the new file's directory entry must survive too

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _append_bad(self, lines: list[bytes]) -> None:
        try:
            with open(self.bad_path, "ab") as f:
                f.write(b"".join(line + b"\n" for line in lines))
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise StoreError(f"cannot keep unreadable journal lines in {self.bad_path}: {exc}") \
                from exc
        logger.warning("kept %d unreadable journal lines in %s", len(lines), self.bad_path)

    def _truncate(self) -> None:
        try:
            with open(self.path, "r+b") as f:
                f.truncate(0)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise StoreError(f"cannot truncate journal {self.path}: {exc}") from exc


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform (Windows): the file itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
